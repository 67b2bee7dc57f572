import { create } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { TensorProtoSchema, type GraphProto, type ModelProto, type TensorProto } from 'onnx-buf';
import { describe, expect, it, vi } from 'vitest';
import { containsSentinel, viewAt } from '../../../test/helpers/buffer-views.js';
import { FUZZ, garbageOf, mutationOf, valueOrFileError } from '../../../test/helpers/fuzz.js';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { subgraphsOf } from './attributes.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from './builders.js';
import { decodeModel, encodeModel } from './model.js';
import { ONNX_DTYPE_NAMES, ONNX_DTYPES, rawByteLength } from './onnx-dtypes.js';
import { readFloat32, readTensor } from './tensor.js';

// Beyond vitest's 5 s default on a 2-core machine: this file is a seeded fuzz of hundreds of mutated models per test.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

/*
 * Property tests of the ONNX model reader on hostile bytes: decodeModel gives a model or
 * MALFORMED_FILE; reading any tensor of what it gives (raw_data at any offset, typed fields,
 * 4- and 2-bit packing, subgraphs) gives values or a typed error; decoding from a Buffer view at
 * an odd offset inside sentinel bytes gives the same values, and none of the sentinel.
 */

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 29 + seed * 7 + 3) & 0xff);

/** A tensor of every numeric dtype in raw_data, and some in their typed fields. */
function seedTensors(prefix: string): TensorProto[] {
  const out: TensorProto[] = [];
  ONNX_DTYPE_NAMES.forEach((dtype, k) => {
    if (dtype === 'string') return;
    const dims = [2n, 3n];
    out.push(create(TensorProtoSchema, { name: `${prefix}${dtype}`, dataType: ONNX_DTYPES[dtype].code, dims, rawData: pattern(rawByteLength(dtype, 6), k) }));
  });
  out.push(create(TensorProtoSchema, { name: `${prefix}f`, dataType: 1, dims: [3n], floatData: [1.5, -2, 3e38] }));
  out.push(create(TensorProtoSchema, { name: `${prefix}d`, dataType: 11, dims: [2n], doubleData: [1e300, -0] }));
  out.push(create(TensorProtoSchema, { name: `${prefix}i64`, dataType: 7, dims: [2n], int64Data: [-(2n ** 63n), 5n] }));
  out.push(create(TensorProtoSchema, { name: `${prefix}u64`, dataType: 13, dims: [1n], uint64Data: [2n ** 64n - 1n] }));
  out.push(create(TensorProtoSchema, { name: `${prefix}h`, dataType: 10, dims: [2n], int32Data: [0x3c00, 0xfc00] }));
  out.push(create(TensorProtoSchema, { name: `${prefix}i4`, dataType: 22, dims: [3n], int32Data: [0x7f, 0x08] }));
  out.push(create(TensorProtoSchema, { name: `${prefix}s`, dataType: 8, dims: [1n], stringData: [new TextEncoder().encode('x')] }));
  return out;
}

function seedModel(): Uint8Array {
  const sub = makeGraph({ nodes: [makeNode('Identity', ['w_float32'], ['t'])], inputs: [], outputs: [makeValueInfo('t', 'float32', [2, 3])], initializers: seedTensors('sub_') });
  const g = makeGraph({
    nodes: [
      makeNode('Constant', [], ['c'], { attributes: { value: seedTensors('const_')[0]! } }),
      makeNode('If', ['cond'], ['y'], { attributes: { then_branch: sub, else_branch: sub } }),
    ],
    inputs: [makeValueInfo('cond', 'bool', [])],
    outputs: [makeValueInfo('y', 'float32', [2, 3])],
    initializers: seedTensors('w_'),
  });
  return encodeModel(makeModel(g, { '': 17 }));
}

const seeds = [seedModel()];

function tensorsOf(model: ModelProto): TensorProto[] {
  const out: TensorProto[] = [];
  const visit = (g: GraphProto, depth: number): void => {
    out.push(...g.initializer);
    for (const n of g.node) {
      for (const a of n.attribute) {
        if (a.t) out.push(a.t);
        out.push(...a.tensors);
      }
      if (depth < 8) for (const s of subgraphsOf(n)) visit(s, depth + 1);
    }
  };
  if (model.graph) visit(model.graph, 0);
  return out;
}

const TENSOR_ERRORS = ['MALFORMED_FILE', 'UNSUPPORTED', 'INVALID_ARGUMENT'] as const;
const hex = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

/** Every tensor's values (or 'error'), one line each; values are checked for leaked sentinel bytes. */
function readAll(bytes: Uint8Array, input: Uint8Array): string {
  const model = valueOrFileError(() => decodeModel(bytes), ['MALFORMED_FILE']);
  if (model === undefined) return 'error';
  return tensorsOf(model)
    .map((t) => {
      const d = valueOrFileError(() => readTensor(t), TENSOR_ERRORS);
      const f = valueOrFileError(() => readFloat32(t), TENSOR_ERRORS);
      for (const v of [d?.values, f]) if (v && containsSentinel(v)) expect(containsSentinel(input)).toBe(true);
      return `${t.name}: ${d ? `${d.dtype} [${d.dims.join(',')}] ${hex(d.values)}` : 'error'} ${f ? hex(f) : 'error'}`;
    })
    .join('\n');
}

function check(bytes: Uint8Array, offset: number): void {
  const view = viewAt(bytes, offset);
  const before = Buffer.from(view);
  expect(readAll(view, bytes)).toBe(readAll(Uint8Array.from(bytes), bytes));
  expect(before.equals(view)).toBe(true);
}

describe('decodeModel and readTensor on hostile bytes', () => {
  it('the seed model reads every tensor', () => {
    const text = readAll(viewAt(seeds[0]!, 3), seeds[0]!);
    // Only the string tensor has no numeric values.
    expect(text.split('\n').filter((l) => l.endsWith('error error'))).toEqual(['w_s: error error', 'sub_s: error error', 'sub_s: error error']);
    expect(text.split('\n').length).toBeGreaterThan(3 * 25);
  });

  // Each run reads some eighty tensors twice: fewer runs keep it to a few seconds.
  const modelRuns = Math.ceil((FUZZ.numRuns * 5) / 8);
  it(`mutated models (${modelRuns} runs): a model or MALFORMED_FILE, tensors read the same from any view`, () => {
    fc.assert(fc.property(mutationOf(seeds), fc.integer({ min: 1, max: 15 }), check), { ...FUZZ, numRuns: modelRuns });
  });

  it(`random bytes and models cut into garbage (${FUZZ.numRuns} runs)`, () => {
    fc.assert(fc.property(garbageOf(seeds), fc.integer({ min: 1, max: 15 }), check), FUZZ);
  });

  it(`tensors with any dtype code, dims and field lengths (${FUZZ.numRuns} runs)`, () => {
    const tensor = fc.record({
      dataType: fc.oneof(fc.integer({ min: -1, max: 30 }), fc.constantFrom(2 ** 31 - 1)),
      dims: fc.array(fc.oneof(fc.bigInt({ min: -2n, max: 7n }), fc.constantFrom(2n ** 31n, 2n ** 53n, 2n ** 62n, -(2n ** 63n))), { maxLength: 5 }),
      raw: fc.uint8Array({ maxLength: 40 }),
      field: fc.constantFrom('rawData', 'floatData', 'doubleData', 'int32Data', 'int64Data', 'uint64Data'),
      n: fc.nat({ max: 12 }),
    });
    fc.assert(
      fc.property(tensor, fc.integer({ min: 1, max: 15 }), (t, offset) => {
        const values: Record<string, unknown> = {
          rawData: t.raw,
          floatData: Array.from({ length: t.n }, (_, i) => i - 0.5),
          doubleData: Array.from({ length: t.n }, (_, i) => i * 1e300),
          int32Data: Array.from({ length: t.n }, (_, i) => (i * 0x12345) | 0),
          int64Data: Array.from({ length: t.n }, (_, i) => BigInt(i) - 3n),
          uint64Data: Array.from({ length: t.n }, (_, i) => BigInt(i) * 2n ** 40n),
        };
        const proto = create(TensorProtoSchema, { name: 't', dataType: t.dataType, dims: t.dims, [t.field]: values[t.field] });
        const model = makeModel(makeGraph({ nodes: [], inputs: [], outputs: [], initializers: [proto] }), { '': 17 });
        check(encodeModel(model), offset);
      }),
      FUZZ,
    );
  });
});

describe('defects the fuzzing found, as named cases', () => {
  it('a tensor name holding a line break gives a one-line error', () => {
    const t = create(TensorProtoSchema, { name: 'w\nx', dataType: 1, dims: [2n], rawData: new Uint8Array(4) });
    expectQuantError(() => readTensor(t), 'MALFORMED_FILE', "tensor 'w\\u000ax' of float32[2] needs 8 bytes, got 4");
  });
});
