import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { viewAt } from '../../test/helpers/buffer-views.js';
import { FUZZ, garbageOf, mutationOf, valueOrFileError } from '../../test/helpers/fuzz.js';
import { expectQuantError } from '../../test/helpers/quant-error.js';
import { computeQParams } from '../core/quantize.js';
import type { StoredParams } from './params-file.js';
import { PARAMS_SCHEME_FIELDS } from './params-file.js';
import { decodeParamsSafetensors, encodeParamsSafetensors } from './params-safetensors.js';
import type { SafetensorsDtype } from './safetensors.js';
import { encodeSafetensors, SAFETENSORS_DTYPES } from './safetensors.js';

/*
 * Property tests of the binary params reader on hostile bytes: every input gives parameters or a
 * one-line MALFORMED_FILE / INVALID_PARAMS, never another throw; the same bytes read the same from
 * a fresh array and from a Buffer view at an odd offset; whatever is read writes back to a file
 * that reads the same.
 */

const x = Float32Array.from({ length: 6 * 20 }, (_, i) => Math.sin(i * 0.7) * (1 + (i % 5)));
const files = [
  encodeParamsSafetensors(computeQParams(x, [6, 20], { dtype: 'int4', granularity: { kind: 'per-block', axis: 1, blockSize: 8 } }), [6, 20]),
  encodeParamsSafetensors(computeQParams(x, [6, 20], { dtype: 'uint8' })),
  encodeParamsSafetensors(computeQParams(x, [6, 20], { dtype: 'int16', symmetric: true, narrow: true, granularity: { kind: 'per-axis', axis: 0 } })),
  encodeParamsSafetensors(computeQParams(x, [6, 20], { dtype: 'uint12', granularity: { kind: 'per-axis', axis: -1 } })),
];

const CODES = ['MALFORMED_FILE', 'INVALID_PARAMS'] as const;
const hex = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
const describeRead = (r: StoredParams | undefined): string =>
  r === undefined ? 'error' : JSON.stringify({ ...r.params, scale: hex(r.params.scale), zeroPoint: Array.from(r.params.zeroPoint), packedShape: r.packedShape });

function check(bytes: Uint8Array, offset: number): void {
  const view = viewAt(bytes, offset);
  const before = Buffer.from(view);
  const read = valueOrFileError(() => decodeParamsSafetensors(view), CODES);
  expect(describeRead(read)).toBe(describeRead(valueOrFileError(() => decodeParamsSafetensors(Uint8Array.from(bytes)), CODES)));
  expect(before.equals(view)).toBe(true);
  if (read) expect(describeRead(decodeParamsSafetensors(encodeParamsSafetensors(read.params, read.packedShape)))).toBe(describeRead(read));
}

const deep = (d: number) => `${'['.repeat(d)}${']'.repeat(d)}`;
/** Metadata values: the right text, JSON of any type, texts that are not JSON, deep nesting. */
const metadataValue = fc.oneof(
  fc.constantFrom('quantkit.params', '1', '2', 'int4', 'uint8', 'int16', 'per_tensor', 'per_channel', 'per_block', 'true', 'false', 'null', '0', '-1', '4', '8', '16', '-8', '7', '255', '[]', '[2]', '[6,3]', '[6,20]'),
  fc.constantFrom('', '1e400', '-0', '4.5', '"4"', '{}', '{"a":1}', '[1,', 'NaN', '[-1]', '[1e300]', '[9007199254740993]', 'a\nb', deep(40), deep(5000)),
  fc.string({ maxLength: 6 }),
);
const metadata = fc.dictionary(fc.constantFrom(...PARAMS_SCHEME_FIELDS, 'packed', 'tensor_shape', 'other', '__proto__'), metadataValue, { maxKeys: 15 });
const tensor = fc
  .record({
    name: fc.constantFrom('scale', 'zero_point', 'scale', 'zero_point', 'W'),
    dtype: fc.constantFrom<SafetensorsDtype>('F32', 'F32', 'I8', 'U8', 'I16', 'U16', 'I32', 'F64', 'BOOL'),
    shape: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 3 }),
    fill: fc.constantFrom(0x00, 0x3f, 0x7f, 0x80, 0xff),
  })
  .map(({ name, dtype, shape, fill }) => {
    const n = shape.reduce((a, d) => a * d, SAFETENSORS_DTYPES[dtype].bytes);
    return { name, dtype, shape, data: Uint8Array.from({ length: n }, (_, i) => (fill + i * 37) & 0xff) };
  });
/** Files the safetensors writer would write, of any tensors and metadata a params file might be confused with. */
const handmade = fc
  .tuple(fc.uniqueArray(tensor, { selector: (t) => t.name, maxLength: 3 }), metadata)
  .map(([tensors, meta]) => encodeSafetensors(tensors, Object.fromEntries(Object.entries(meta))));

describe('decodeParamsSafetensors on hostile bytes', () => {
  it(`mutated files (${FUZZ.numRuns} runs): parameters or one line of MALFORMED_FILE / INVALID_PARAMS, the same from any view`, () => {
    fc.assert(fc.property(mutationOf(files), fc.integer({ min: 1, max: 15 }), check), FUZZ);
  });

  it(`random bytes and files cut into garbage (${FUZZ.numRuns} runs)`, () => {
    fc.assert(fc.property(garbageOf(files), fc.integer({ min: 1, max: 15 }), check), FUZZ);
  });

  it(`well-formed safetensors of wrong tensors and metadata of any text (${FUZZ.numRuns} runs)`, () => {
    fc.assert(fc.property(handmade, fc.integer({ min: 1, max: 15 }), check), FUZZ);
  });

  it('reads the valid files it starts from', () => {
    for (const f of files) expect(describeRead(valueOrFileError(() => decodeParamsSafetensors(f), CODES))).not.toBe('error');
  });
});

describe('defects the fuzzing found, as named cases', () => {
  it('a param_shape nested 200,000 deep is INVALID_PARAMS, not a stack overflow in the message', () => {
    const file = encodeSafetensors(
      [
        { name: 'scale', dtype: 'F32', shape: [], data: new Uint8Array(Float32Array.of(0.5).buffer) },
        { name: 'zero_point', dtype: 'U8', shape: [], data: Uint8Array.of(3) },
      ],
      { format: 'quantkit.params', version: '1', dtype: 'uint8', bits: '8', signed: 'false', symmetric: 'false', narrow: 'false', granularity: 'per_tensor', axis: 'null', block_size: 'null', qmin: '0', qmax: '255', param_shape: deep(200_000) },
    );
    expectQuantError(() => decodeParamsSafetensors(file), 'INVALID_PARAMS', /^params\.param_shape\[0\]: expected a non-negative integer, got \[\[\[/);
  });
});
