import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { containsSentinel, viewAt } from '../../test/helpers/buffer-views.js';
import { FUZZ, garbageOf, mutationOf, valueOrFileError } from '../../test/helpers/fuzz.js';
import { expectQuantError } from '../../test/helpers/quant-error.js';
import { decodeSafetensors, floatTensorToFloat32, SAFETENSORS_DTYPES } from './safetensors.js';

/*
 * Property tests of the safetensors reader on hostile bytes: every input gives a header or a
 * one-line MALFORMED_FILE, never another throw; the same bytes decode the same from a fresh array
 * and from a Buffer view at an odd offset inside sentinel bytes; every tensor's bytes lie inside
 * the file.
 */

const FIXTURES = new URL('../../test/fixtures/safetensors/', import.meta.url);
const read = (name: string) => new Uint8Array(readFileSync(new URL(name, FIXTURES)));
const files = [
  ...readdirSync(FIXTURES).filter((f) => f.endsWith('.safetensors')).map(read),
  ...readdirSync(new URL('malformed/', FIXTURES)).map((f) => read(`malformed/${f}`)),
];

const hex = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

/** Everything a reader learns from the file, as one comparable string (or 'error'). */
function decodeAll(bytes: Uint8Array): string {
  const r = valueOrFileError(() => decodeSafetensors(bytes), ['MALFORMED_FILE']);
  if (r === undefined) return 'error';
  const parts = [JSON.stringify(r.header.metadata), String(r.header.dataStart)];
  for (const t of r.header.tensors) {
    const b = r.tensorBytes(t.name);
    expect(b.length).toBe(t.end - t.begin);
    expect(r.header.dataStart + t.end).toBeLessThanOrEqual(bytes.length);
    parts.push(`${t.name} ${t.dtype} [${t.shape.join(',')}] ${hex(b)}`);
    if (SAFETENSORS_DTYPES[t.dtype].float) {
      const f = floatTensorToFloat32(t.dtype, b);
      if (containsSentinel(f)) expect(containsSentinel(bytes)).toBe(true);
      parts.push(hex(f));
    }
  }
  return parts.join('\n');
}

function check(bytes: Uint8Array, offset: number): void {
  const view = viewAt(bytes, offset);
  const before = Buffer.from(view);
  expect(decodeAll(view)).toBe(decodeAll(Uint8Array.from(bytes)));
  expect(before.equals(view)).toBe(true);
}

/** A file around a JSON header text, padded to 8 and followed by `data` bytes. */
function fileOf(json: string, data: number): Uint8Array {
  const text = new TextEncoder().encode(json);
  const n = text.length + ((8 - (text.length % 8)) % 8);
  const out = new Uint8Array(8 + n + data).fill(0x20, 8 + text.length, 8 + n);
  new DataView(out.buffer).setUint32(0, n, true);
  out.set(text, 8);
  for (let i = 8 + n; i < out.length; i++) out[i] = (i * 53) & 0xff;
  return out;
}

const jsonValue = fc.oneof(
  fc.integer({ min: -2, max: 64 }),
  fc.constantFrom(2 ** 53, 2 ** 53 - 1, 2 ** 64, 1e300, -0, 2.5, 'F32', 'BF16', 'X', null, true, {}, [], [1, 2], [0, -1], ['0', 8], { a: 1 }),
);
const tensorEntry = fc.record(
  {
    dtype: fc.oneof(fc.constantFrom(...Object.keys(SAFETENSORS_DTYPES)), jsonValue),
    shape: fc.oneof(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), fc.array(jsonValue, { maxLength: 3 }), jsonValue),
    data_offsets: fc.oneof(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })), fc.array(jsonValue, { maxLength: 3 }), jsonValue),
  },
  { requiredKeys: [] },
);
const name = fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('__metadata__', '__proto__', 'constructor', 'toString', '', 'a\nb'));
const metadata = fc.oneof(fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.string({ maxLength: 4 }), jsonValue), { maxKeys: 3 }), jsonValue);
/** Headers of entries with any field types, duplicate keys, metadata of any shape, deep nesting. */
const handmade = fc
  .tuple(
    fc.array(fc.tuple(name, fc.oneof({ weight: 4, arbitrary: tensorEntry }, jsonValue)), { maxLength: 5 }),
    fc.option(metadata),
    fc.constantFrom(0, 0, 0, 0, 3, 40, 3000),
    fc.nat({ max: 96 }),
  )
  .map(([entries, meta, depth, data]) => {
    const parts = entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    if (meta !== null) parts.push(`"__metadata__":${JSON.stringify(meta)}`);
    if (depth > 0) parts.push(`"deep":${'['.repeat(depth)}${']'.repeat(depth)}`, `"deeper":{"shape":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    return fileOf(`{${parts.join(',')}}`, data);
  });

describe('decodeSafetensors on hostile bytes', () => {
  it(`mutated files (${FUZZ.numRuns} runs): a header or MALFORMED_FILE, the same from any view`, () => {
    fc.assert(fc.property(mutationOf(files), fc.integer({ min: 1, max: 15 }), check), FUZZ);
  });

  it(`random bytes and files cut into garbage (${FUZZ.numRuns} runs)`, () => {
    fc.assert(fc.property(garbageOf(files), fc.integer({ min: 1, max: 15 }), check), FUZZ);
  });

  it(`handmade headers: wrong field types, huge offsets, duplicate and prototype keys, deep nesting (${FUZZ.numRuns} runs)`, () => {
    fc.assert(fc.property(handmade, fc.integer({ min: 1, max: 15 }), check), FUZZ);
  });
});

describe('defects the fuzzing found, as named cases', () => {
  it('a tensor entry nested 200,000 deep is MALFORMED_FILE, not a stack overflow in the message', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    expectQuantError(() => decodeSafetensors(fileOf(`{"w":${deep}}`, 0)), 'MALFORMED_FILE', /tensor 'w': expected an object with dtype, shape and data_offsets, got \[\[\[\.\.\./);
    expectQuantError(() => decodeSafetensors(fileOf(`{"w":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`, 0)), 'MALFORMED_FILE', /shape must be an array/);
  });

  it('JSON errors and names holding line breaks give a one-line message', () => {
    const bytes = fileOf('{"w":{"dtype":"F32","shape"\n:[1],"data_offsets":[0,4]}}', 4);
    bytes[8 + 28] = 0x00;
    expectQuantError(() => decodeSafetensors(bytes), 'MALFORMED_FILE', /header is not valid JSON/);
    expectQuantError(() => decodeSafetensors(fileOf('{"a\\nb":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}', 8)), 'MALFORMED_FILE', /tensor 'a\\u000ab': data_offsets \[0, 8\] hold 8 bytes/);
  });
});

