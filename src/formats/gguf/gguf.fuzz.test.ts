import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { viewAt } from '../../../test/helpers/buffer-views.js';
import { FUZZ, garbageOf, mutationOf, valueOrFileError } from '../../../test/helpers/fuzz.js';
import { GGML_TYPES } from '../../core/ggml/index.js';
import { encodeGguf, encodeGgufHeader } from './encode-gguf-header.js';
import { decodeGgufHeader, tryDecodeGgufHeader } from './gguf-header.js';
import type { GgufArray, GgufValue } from './gguf-value.js';

/*
 * Property tests of the GGUF reader on hostile bytes: every input gives a header or a one-line
 * MALFORMED_FILE/UNSUPPORTED, never another throw; the same bytes decode the same from a fresh
 * array, from a Buffer view at an odd offset, and from prefixes (the streaming path); every
 * tensor lies inside the file. And any metadata the writer accepts reads back the same.
 */

const scalar: fc.Arbitrary<GgufValue> = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((value) => ({ type: 'u8' as const, value })),
  fc.integer({ min: -128, max: 127 }).map((value) => ({ type: 'i8' as const, value })),
  fc.integer({ min: -32768, max: 32767 }).map((value) => ({ type: 'i16' as const, value })),
  fc.integer({ min: 0, max: 0xffffffff }).map((value) => ({ type: 'u32' as const, value })),
  fc.integer().map((value) => ({ type: 'i32' as const, value })),
  fc.float({ noNaN: true }).map((value) => ({ type: 'f32' as const, value })),
  fc.double({ noNaN: true }).map((value) => ({ type: 'f64' as const, value })),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((value) => ({ type: 'u64' as const, value })),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((value) => ({ type: 'i64' as const, value })),
  fc.boolean().map((value) => ({ type: 'bool' as const, value })),
  fc.string({ unit: 'grapheme', maxLength: 8 }).map((value) => ({ type: 'string' as const, value })),
);
const array: fc.Arbitrary<GgufArray> = fc.letrec<{ arr: GgufArray }>((tie) => ({
  arr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.array(fc.float({ noNaN: true }), { maxLength: 5 }).map((v) => ({ type: 'array' as const, itemType: 'f32' as const, value: Float32Array.from(v) })),
    fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 3 }).map((v) => ({ type: 'array' as const, itemType: 'i64' as const, value: BigInt64Array.from(v) })),
    fc.array(fc.string({ maxLength: 4 }), { maxLength: 4 }).map((v) => ({ type: 'array' as const, itemType: 'string' as const, value: v })),
    fc.array(fc.boolean(), { maxLength: 4 }).map((v) => ({ type: 'array' as const, itemType: 'bool' as const, value: v })),
    fc.array(tie('arr'), { maxLength: 3 }).map((v) => ({ type: 'array' as const, itemType: 'array' as const, value: v })),
  ),
})).arr;
const metadata = fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 6 }), fc.oneof(scalar, array)), { selector: ([k]) => k, maxLength: 6 }).map((kv) => new Map<string, GgufValue>(kv));

const file = (meta: Map<string, GgufValue>) =>
  encodeGguf(meta, [
    { name: 'blk.0.w', dims: [32, 2], type: GGML_TYPES.Q4_0, data: Uint8Array.from({ length: 36 }, (_, i) => i) },
    { name: 'v', dims: [3], type: GGML_TYPES.F16, data: Uint8Array.of(1, 2, 3, 4, 5, 6) },
  ]);
const files = [
  file(new Map<string, GgufValue>([['general.architecture', { type: 'string', value: 'llama' }], ['t', { type: 'array', itemType: 'string', value: ['<s>', 'a'] }], ['n', { type: 'array', itemType: 'array', value: [{ type: 'array', itemType: 'u8', value: Uint8Array.of(1) }] }]])),
  file(new Map<string, GgufValue>([['general.alignment', { type: 'u32', value: 64 }], ['x', { type: 'f64', value: 1.5 }]])),
  encodeGguf(new Map(), []),
];

const hex = (a: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

/** Everything a reader learns from the file as one string, or 'error'. */
function decodeAll(bytes: Uint8Array): string {
  const h = valueOrFileError(() => decodeGgufHeader(bytes));
  if (h === undefined) return 'error';
  const parts = [String(h.version), String(h.alignment), String(h.dataOffset)];
  const meta = encodeGgufHeader(h.metadata, []).headerBytes;
  parts.push(hex(meta));
  for (const t of h.tensors) {
    const start = Number(h.dataOffset + t.offset);
    expect(start + t.byteLength).toBeLessThanOrEqual(bytes.length);
    parts.push(`${t.name} ${t.type.name} [${t.dims.join(',')}] ${hex(bytes.subarray(start, start + t.byteLength))}`);
  }
  return parts.join('\n');
}

function streamed(bytes: Uint8Array): string {
  const r = valueOrFileError(() => {
    let n = Math.min(bytes.length, 7);
    for (;;) {
      const h = tryDecodeGgufHeader(bytes.subarray(0, n), bytes.length);
      if (!('needBytes' in h)) return h;
      expect(h.needBytes).toBeGreaterThan(n);
      expect(h.needBytes).toBeLessThanOrEqual(bytes.length);
      n = h.needBytes;
    }
  });
  return r === undefined ? 'error' : `${r.tensors.length} ${r.metadata.size} ${r.dataOffset}`;
}

function check(bytes: Uint8Array, offset: number): void {
  const view = viewAt(bytes, offset);
  const whole = decodeAll(Uint8Array.from(bytes));
  expect(decodeAll(view)).toBe(whole);
  const h = whole === 'error' ? undefined : decodeGgufHeader(bytes);
  expect(streamed(bytes)).toBe(h === undefined ? 'error' : `${h.tensors.length} ${h.metadata.size} ${h.dataOffset}`);
}

describe('decodeGgufHeader on hostile bytes', () => {
  it(`mutated files (${FUZZ.numRuns} runs): a header or one error, the same from any view and from prefixes`, () => {
    fc.assert(fc.property(mutationOf(files), fc.integer({ min: 1, max: 15 }), check), FUZZ);
  });

  it(`random bytes and files cut into garbage (${FUZZ.numRuns} runs)`, () => {
    fc.assert(fc.property(garbageOf(files), fc.integer({ min: 1, max: 15 }), check), FUZZ);
  });
});

describe('GGUF metadata round trip', () => {
  it(`any metadata the writer takes reads back equal, in order (${FUZZ.numRuns} runs)`, () => {
    fc.assert(
      fc.property(metadata, (meta) => {
        const h = decodeGgufHeader(file(meta));
        expect([...h.metadata.keys()]).toEqual([...meta.keys()]);
        for (const [k, v] of meta) expect(h.metadata.get(k)).toEqual(v);
      }),
      FUZZ,
    );
  });
});
