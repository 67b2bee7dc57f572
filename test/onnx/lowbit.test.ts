import type { ModelProto, NodeProto } from 'onnx-buf';
import { describe, expect, it, vi } from 'vitest';
import * as ort from 'onnxruntime-node';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../src/core/float16.js';
import { intAttribute } from '../../src/formats/onnx/attributes.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { decodeModel, encodeModel } from '../../src/formats/onnx/model.js';
import { makeTensor, readFloat32, readTensor, tensorDims } from '../../src/formats/onnx/tensor.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { upgradeOpset } from '../../src/onnx/graph/opset-upgrade.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import type { QuantizeOptionsInput } from '../../src/onnx/quantize-options.js';
import type { RunModel, TensorMap } from '../../src/onnx/run-model.js';
import { convModel, mlpModel, randomWeights } from './models.js';
import { relRms, runOrt } from './run-ort.js';
import { init, maxAbs, maxAbsDiff, nodeOf } from './weight-helpers.js';

vi.setConfig({ testTimeout: 60_000 });

/** Independent decode of a MatMulNBits weight of 2, 4 or 8 bits into W [K, N] (codes first in the low bits, as onnxruntime reads them). */
function decodeNBits(m: ModelProto, node: NodeProto): Float32Array {
  const K = intAttribute(node, 'K')!;
  const N = intAttribute(node, 'N')!;
  const bits = intAttribute(node, 'bits')!;
  const bs = intAttribute(node, 'block_size')!;
  const blocks = Math.ceil(K / bs);
  const b = readTensor(init(m, node.input[1]!)).values as Uint8Array;
  const s = readFloat32(init(m, node.input[2]!));
  const zpBytes = node.input[3] ? (readTensor(init(m, node.input[3])).values as Uint8Array) : undefined;
  const perByte = 8 / bits;
  const mask = (1 << bits) - 1;
  const code = (bytes: Uint8Array, i: number) => (bytes[Math.floor(i / perByte)]! >> ((i % perByte) * bits)) & mask;
  const w = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const blk = Math.floor(k / bs);
      const zp = zpBytes ? code(zpBytes, n * Math.ceil(blocks / perByte) * perByte + blk) : 1 << (bits - 1);
      w[k * N + n] = Math.fround((code(b, n * blocks * bs + k) - zp) * s[n * blocks + blk]!);
    }
  }
  return w;
}

/** Independent blocked DequantizeLinear (ONNX opset 21) of a 2-D weight along `axis`. */
function decodeBlocked2d(m: ModelProto, dq: NodeProto): { dims: number[]; values: Float32Array; codes: ArrayLike<number> } {
  const q = readTensor(init(m, dq.input[0]!));
  const s = readFloat32(init(m, dq.input[1]!));
  const z = readTensor(init(m, dq.input[2]!)).values as ArrayLike<number>;
  const axis = intAttribute(dq, 'axis', 1)!;
  const bs = intAttribute(dq, 'block_size')!;
  const [r, c] = q.dims as [number, number];
  const codes = q.values as ArrayLike<number>;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) {
      const p = axis === 0 ? Math.floor(i / bs) * c + j : i * Math.ceil(c / bs) + Math.floor(j / bs);
      out[i * c + j] = Math.fround((codes[i * c + j]! - z[p]!) * s[p]!);
    }
  }
  return { dims: q.dims, values: out, codes };
}

/** The MLP with W1 and W2 replaced by `w1`, `w2` (float): what onnxruntime must compute with the decoded weights. */
function withWeights(m: ModelProto, weights: Record<string, Float32Array>): ModelProto {
  const c = decodeModel(encodeModel(m));
  for (const [name, v] of Object.entries(weights)) {
    const t = init(c, name);
    c.graph!.initializer[c.graph!.initializer.indexOf(t)] = makeTensor(name, 'float32', tensorDims(t), v);
  }
  return c;
}

/** Inputs [rows, k] whose channels differ in scale by two orders of magnitude (a few outlier channels, as real activations have). */
function skewedInputs(rows: number, k: number, seed: number): Float32Array {
  const x = randomWeights(rows * k, seed);
  for (let r = 0; r < rows; r++) for (let c = 0; c < k; c++) x[r * k + c]! *= c % 16 === 3 ? 20 : c % 5 === 0 ? 0.2 : 1;
  return x;
}


const x64 = { x: { dims: [1, 64], data: randomWeights(64, 9) } };

describe('low-bit dtypes', () => {
  it.each([
    ['int3', 4, [4, 11]],
    ['int2', 2, [0, 3]],
  ] as const)('%s MatMul becomes %i-bit MatMulNBits whose codes keep the range, and onnxruntime computes with exactly the decoded weights', async (dtype, bits, [lo, hi]) => {
    const m = mlpModel(64, 48, 16);
    const { model: q, report } = await quantizeModel(m, { dtype, blockSize: 32 });
    expect(report.nodes[0]).toMatchObject({ node: 'mm', status: 'quantized', dtype, form: 'com.microsoft.MatMulNBits', blockSize: 32 });
    const nb = nodeOf(q, 'MatMulNBits')[0]!;
    expect(intAttribute(nb, 'bits')).toBe(bits);
    const decoded = decodeNBits(q, nb);
    // Every code within the dtype's range (int3 shifted by 8 into its 4-bit container: −4..3 → 4..11).
    const b = readTensor(init(q, nb.input[1]!)).values as Uint8Array;
    const mask = (1 << bits) - 1;
    for (let i = 0; i < 64 * 48; i++) {
      const c = (b[Math.floor(i / (8 / bits))]! >> ((i % (8 / bits)) * bits)) & mask;
      expect(c).toBeGreaterThanOrEqual(lo);
      expect(c).toBeLessThanOrEqual(hi);
    }
    // Asymmetric by default below 4 bits: the grid spans each block's min..max, so the error is at most half a step.
    const W1 = readFloat32(init(m, 'W1'));
    const scales = readFloat32(init(q, nb.input[2]!));
    for (let i = 0; i < W1.length; i++) expect(Math.abs(decoded[i]! - W1[i]!)).toBeLessThanOrEqual(scales[(i % 48) * 2 + Math.floor(Math.floor(i / 48) / 32)]! / 2 + 1e-6);
    const want = (await runOrt(withWeights(m, { W1: decoded }), x64)).y!;
    expect(maxAbsDiff(want, (await runOrt(q, x64)).y!)).toBeLessThan(1e-4 * Math.max(1, maxAbs(want)));
  });

  it('int3 DequantizeLinear weights are int4 containers holding −4..3; int2 is int2 from opset 25 and int4 below', async () => {
    for (const [dtype, opset, container, range] of [
      ['int3', 21, 'int4', [-4, 3]],
      ['int2', 21, 'int4', [-2, 1]],
      ['int2', 25, 'int2', [-2, 1]],
    ] as const) {
      const m = mlpModel(64, 48, 16, opset);
      m.irVersion = opset >= 25 ? 11n : 10n;
      const { model: q } = await quantizeModel(m, { dtype, int4Form: 'dequantize-linear', blockSize: 16 });
      const dqs = nodeOf(q, 'DequantizeLinear');
      expect(dqs).toHaveLength(2);
      const decoded: Record<string, Float32Array> = {};
      for (const dq of dqs) {
        const d = decodeBlocked2d(q, dq);
        expect(readTensor(init(q, dq.input[0]!)).dtype).toBe(container);
        expect(Math.min(...Array.from(d.codes))).toBeGreaterThanOrEqual(range[0]);
        expect(Math.max(...Array.from(d.codes))).toBeLessThanOrEqual(range[1]);
        decoded[dq.output[0]!] = d.values;
      }
      const want = (await runOrt(withWeights(m, decoded), x64)).y!;
      expect(maxAbsDiff(want, (await runOrt(q, x64)).y!)).toBeLessThan(1e-4 * Math.max(1, maxAbs(want)));
    }
  });

  it('raiseOpset lifts an opset-17 Conv to opset 21 and writes its 3-input weight per output channel (27 weights per scale: blocks of its 3 input channels would be 3); without it the Conv stays float and the reason names the flag', async () => {
    const m = convModel(17);
    const kept = await quantizeModel(m, { dtype: 'int4' });
    expect(kept.report.nodes[0]).toMatchObject({ status: 'float', reason: expect.stringMatching(/opset 21\), the model is opset 17 \(raiseOpset \/ --raise-opset raises it\)/) });
    const { model: q, report } = await quantizeModel(m, { dtype: 'int4', raiseOpset: true, blockSize: 16 });
    expect(report.nodes[0]).toMatchObject({ status: 'quantized', form: 'DequantizeLinear', granularity: 'per-channel', axis: 0 });
    expect((report as { opsetUpgrade?: { from: number; to: number } }).opsetUpgrade).toMatchObject({ from: 17, to: 21 });
    expect(report.warnings.join(' ')).toMatch(/OPSET RAISED: ai.onnx opset 17 -> 21/);
    expect(q.opsetImport.find((o) => o.domain === '')!.version).toBe(21n);
    expect(readTensor(init(q, 'W_scale')).dims).toEqual([4]);
    const x = { x: { dims: [1, 3, 8, 8], data: randomWeights(192, 11) } };
    const f = (await runOrt(m, x)).y!;
    expect(maxAbsDiff(f, (await runOrt(q, x)).y!)).toBeLessThan(0.15 * maxAbs(f));
  });
});

describe('raising the opset to 21', () => {
  it('rewrites Softmax (flatten semantics), Squeeze, Unsqueeze, ReduceMean and ReduceSum axes so onnxruntime gives the same outputs', async () => {
    const g = makeGraph({
      nodes: [
        makeNode('Softmax', ['x'], ['s'], { attributes: { axis: 1 } }),
        makeNode('ReduceMean', ['s'], ['r'], { attributes: { axes: [2], keepdims: 1 } }),
        makeNode('Squeeze', ['r'], ['q'], { attributes: { axes: [2] } }),
        makeNode('Unsqueeze', ['q'], ['u'], { attributes: { axes: [0] } }),
        makeNode('ReduceSum', ['u'], ['y'], { attributes: { axes: [3], keepdims: 0 } }),
        makeNode('LogSoftmax', ['x'], ['z'], { attributes: { axis: 2 } }),
      ],
      inputs: [makeValueInfo('x', 'float32', [2, 3, 4, 5])],
      outputs: [makeValueInfo('y', 'float32'), makeValueInfo('z', 'float32')],
    });
    const m = makeModel(g, { '': 11 });
    const up = decodeModel(encodeModel(m));
    const u = upgradeOpset(up, 21);
    expect(u.rewritten.map((r) => r.opType).sort()).toEqual(['LogSoftmax', 'ReduceMean', 'ReduceSum', 'Softmax', 'Squeeze', 'Unsqueeze']);
    const x = { x: { dims: [2, 3, 4, 5], data: randomWeights(120, 3) } };
    const a = await runOrt(m, x);
    const b = await runOrt(up, x);
    expect(maxAbsDiff(a.y!, b.y!)).toBeLessThan(1e-6);
    expect(maxAbsDiff(a.z!, b.z!)).toBeLessThan(1e-6);
  });
});

/** A feed of `rows` samples [rows, k] for input x. */
const feed = (data: Float32Array, k: number): TensorMap => ({ x: { name: 'x', dtype: 'float32', dims: [data.length / k, k], values: data } });

/** x [n, 64] → MatMul W1 [64, 48] → Add → Relu → Gemm W2ᵀ → y, batch axis symbolic. */
function batchMlp(): ModelProto {
  const m = mlpModel(64, 48, 16, 21);
  m.irVersion = 10n;
  m.graph!.input[0] = makeValueInfo('x', 'float32', ['n', 64]);
  m.graph!.output[0] = makeValueInfo('y', 'float32', ['n', 16]);
  return m;
}

async function outputError(m: ModelProto, q: ModelProto, x: Float32Array): Promise<number> {
  const xs = { x: { dims: [x.length / 64, 64], data: x } };
  return relRms((await runOrt(q, xs)).y!, (await runOrt(m, xs)).y!);
}

describe('weight methods with calibration through onnxruntime', () => {
  const cal = skewedInputs(256, 64, 21);
  const held = skewedInputs(128, 64, 22);
  const hooks = { runModel: createOrtRunner(), calibrationData: () => [feed(cal.subarray(0, 128 * 64), 64), feed(cal.subarray(128 * 64), 64)] };
  const q = (options: QuantizeOptionsInput) => quantizeModel(batchMlp(), { dtype: 'int3', blockSize: 32, ...options }, hooks);

  it('gptq, awq and search fitted on calibration inputs beat rtn on held-out inputs; hqq beats it without data', async () => {
    const m = batchMlp();
    const rtn = await outputError(m, (await q({ method: 'rtn' })).model, held);
    const errors: Record<string, number> = {};
    for (const method of ['gptq', 'awq', 'search', 'hqq'] as const) {
      const r = await q({ method });
      expect(r.report.nodes.every((n) => n.status === 'quantized' && n.method === method)).toBe(true);
      errors[method] = await outputError(m, r.model, held);
    }
    expect(errors.gptq!).toBeLessThan(0.8 * rtn);
    expect(errors.awq!).toBeLessThan(rtn);
    expect(errors.search!).toBeLessThan(rtn);
    expect(errors.hqq!).toBeLessThan(rtn);
  });

  it('awq divides the op input by its channel scales: a Mul in front of a graph input, folded into the MatMul and Add producing the Gemm input', async () => {
    const { model: out, report } = await q({ method: 'awq' });
    const muls = nodeOf(out, 'Mul');
    expect(muls.length).toBe(1);
    const nb = nodeOf(out, 'MatMulNBits')[0]!;
    const mul = muls.find((n) => n.output[0] === nb.input[0])!;
    expect(mul.input[0]).toBe('x');
    const inv = readFloat32(init(out, mul.input[1]!));
    expect(inv).toHaveLength(64);
    // The outlier channels (every 16th from 3) carry the largest activations: they get the largest scales, so the smallest 1/s.
    expect(inv[3]!).toBeLessThan(inv[4]!);
    expect(inv[19]!).toBeLessThan(inv[20]!);
    expect(report.nodes[0]).toMatchObject({ node: 'mm', inputScale: { applied: 'Mul', reason: "'x' is a graph input" } });
    expect(report.nodes[1]).toMatchObject({ node: 'gemm', inputScale: { applied: 'folded', into: ['add', 'mm'], reason: expect.stringMatching(/through relu \(Relu\)/) } });
    expect(nodeOf(out, 'Gemm')[0]!.input[0]).toBe('h2');
  });

  it('gptq calibrates layer by layer on the model whose earlier layers are already quantized', async () => {
    // Five chained MatMuls: four layers per pass, so the second pass runs the model with the first four already quantized.
    const k = 32;
    const nodes = [];
    const inits = [];
    for (let i = 0; i < 5; i++) {
      nodes.push(makeNode('MatMul', [i ? `h${i}` : 'x', `W${i}`], [i === 4 ? 'y' : `h${i + 1}`], { name: `mm${i}` }));
      inits.push(makeTensor(`W${i}`, 'float32', [k, k], randomWeights(k * k, 40 + i)));
    }
    const m = makeModel(makeGraph({ nodes, inputs: [makeValueInfo('x', 'float32', ['n', k])], outputs: [makeValueInfo('y', 'float32', ['n', k])], initializers: inits }), { '': 17 });
    const seen: ModelProto[] = [];
    const ortRun = createOrtRunner();
    const spy: RunModel = async (bytes, batches, onOutputs, names) => {
      seen.push(decodeModel(bytes));
      await ortRun(bytes, batches, onOutputs, names);
    };
    const { model: out, report } = await quantizeModel(m, { dtype: 'int4', method: 'gptq', blockSize: 16 }, { runModel: spy, calibrationData: () => [feed(randomWeights(64 * k, 5), k)] });
    expect((report as { calibration?: unknown }).calibration).toEqual({ batches: 1, layers: 5, passes: 2, sequential: true, floatTargets: false });
    expect(seen).toHaveLength(2);
    // First pass: float weights; second: W0..W3 hold exactly the weights the output model decodes to, and the model stops at h4 (mm4, W4 and y are not run).
    expect(Array.from(readFloat32(init(seen[0]!, 'W0')))).toEqual(Array.from(readFloat32(init(m, 'W0'))));
    for (let i = 0; i < 4; i++) {
      const nb = nodeOf(out, 'MatMulNBits').find((n) => n.output[0] === (i === 4 ? 'y' : `h${i + 1}`))!;
      expect(Array.from(readFloat32(init(seen[1]!, `W${i}`)))).toEqual(Array.from(decodeNBits(out, nb)));
    }
    expect(seen[1]!.graph!.initializer.map((t) => t.name)).toEqual(['W0', 'W1', 'W2', 'W3']);
    expect(seen[1]!.graph!.node.map((n) => n.name)).toEqual(['mm0', 'mm1', 'mm2', 'mm3']);
    expect(seen[1]!.graph!.output.map((o) => o.name)).toEqual(['h4']);
  });

  it('without calibration data gptq and awq fall back to search, and say so per node and in the warnings', async () => {
    const { report } = await quantizeModel(batchMlp(), { dtype: 'int4', method: 'gptq' });
    expect(report.nodes[0]).toMatchObject({ status: 'quantized', method: 'search', methodNote: expect.stringMatching(/gptq fell back to search: no calibration inputs/) });
    expect(report.warnings.join(' ')).toMatch(/method gptq needs calibration inputs/);
  });

  it('gptq on a layer whose calibration inputs are all zero quantizes it by search and says why; the next layer still gets gptq', async () => {
    const zeros = { runModel: createOrtRunner(), calibrationData: () => [feed(new Float32Array(8 * 64), 64)] };
    const { report } = await quantizeModel(batchMlp(), { dtype: 'int4', method: 'gptq' }, zeros);
    expect(report.nodes[0]).toMatchObject({ node: 'mm', status: 'quantized', method: 'search', methodNote: expect.stringMatching(/gptq fell back to search: the calibration inputs of this layer are all zero/) });
    expect(report.nodes[1]).toMatchObject({ node: 'gemm', status: 'quantized', method: 'gptq' });
  });

  it('refuses methods for 8-bit weights and for the integer modes', async () => {
    await expect(quantizeModel(batchMlp(), { dtype: 'int8', method: 'gptq' })).rejects.toThrow(/method gptq chooses codes per block of 4 bits or fewer/);
    await expect(quantizeModel(batchMlp(), { mode: 'dynamic', method: 'hqq' })).rejects.toThrow(/method hqq applies to weight-only mode/);
    await expect(quantizeModel(batchMlp(), { dtype: 'int4', method: 'gptq', damp: 2 })).rejects.toThrow(/damp: expected a number <= 1/);
  });

  it('rtn stays the default: the same model bit for bit as with method rtn given', async () => {
    const a = await quantizeModel(batchMlp(), { dtype: 'int4' });
    const b = await quantizeModel(batchMlp(), { dtype: 'int4', method: 'rtn' }, hooks);
    expect(encodeModel(a.model)).toEqual(encodeModel(b.model));
    expect(a.report.nodes.some((n) => n.status === 'quantized' && n.method !== undefined)).toBe(false);
  });
});

describe('float16 models', () => {
  it('keep float16 weights, scales and outputs: MatMulNBits and blocked DequantizeLinear scales are float16 and onnxruntime runs it', async () => {
    const f32 = mlpModel(64, 48, 16, 21);
    f32.irVersion = 10n;
    const m = decodeModel(encodeModel(f32));
    for (const [i, t] of m.graph!.initializer.entries()) m.graph!.initializer[i] = makeTensor(t.name, 'float16', tensorDims(t), float32ToFloat16Bits(readFloat32(t)));
    m.graph!.input[0] = makeValueInfo('x', 'float16', [1, 64]);
    m.graph!.output[0] = makeValueInfo('y', 'float16', [1, 16]);
    const { model: q, report } = await quantizeModel(m, { dtype: 'int4', method: 'hqq' });
    expect(report.nodes.map((n) => n.status === 'quantized' && n.form)).toEqual(['com.microsoft.MatMulNBits', 'DequantizeLinear']);
    expect(report.weightBytesBefore).toBe((64 * 48 + 16 * 48) * 2);
    const nb = nodeOf(q, 'MatMulNBits')[0]!;
    expect(readTensor(init(q, nb.input[2]!)).dtype).toBe('float16');
    expect(readTensor(init(q, nodeOf(q, 'DequantizeLinear')[0]!.input[1]!)).dtype).toBe('float16');
    const run = async (model: ModelProto) => {
      const s = await ort.InferenceSession.create(encodeModel(model));
      try {
        const out = (await s.run({ x: new ort.Tensor('float16', float32ToFloat16Bits(x64.x.data), [1, 64]) })).y!;
        expect(out.type).toBe('float16');
        return float16BitsToFloat32(out.data as Uint16Array);
      } finally {
        await s.release();
      }
    };
    const f = await run(m);
    expect(relRms(await run(q), f)).toBeLessThan(0.2);
  });
});

describe('embeddings', () => {
  it('a Gather of an embedding table becomes com.microsoft GatherBlockQuantized, which onnxruntime runs as the decoded rows', async () => {
    const V = 20;
    const D = 64;
    const table = randomWeights(V * D, 77);
    const g = makeGraph({
      nodes: [makeNode('Gather', ['table', 'ids'], ['y'], { name: 'embed' })],
      inputs: [makeValueInfo('ids', 'int64', [3])],
      outputs: [makeValueInfo('y', 'float32', [3, D])],
      initializers: [makeTensor('table', 'float32', [V, D], table)],
    });
    const m = makeModel(g, { '': 17 });
    for (const dtype of ['int4', 'uint4', 'int3'] as const) {
      const { model: q, report } = await quantizeModel(m, { dtype, opTypes: ['Gather'], blockSize: 32 });
      expect(report.nodes[0]).toMatchObject({ node: 'embed', status: 'quantized', form: 'com.microsoft.GatherBlockQuantized', axis: 1, blockSize: 32 });
      const gq = nodeOf(q, 'GatherBlockQuantized')[0]!;
      const codes = readTensor(init(q, gq.input[0]!));
      expect(codes.dtype).toBe(dtype === 'uint4' ? 'uint4' : 'int4');
      // Independent decode of the looked-up rows: (q − zp) · scale per block of 32 along the row.
      const s = readFloat32(init(q, gq.input[2]!));
      const z = readTensor(init(q, gq.input[3]!)).values as ArrayLike<number>;
      const ids = [5, 0, 19];
      const want = new Float32Array(3 * D);
      ids.forEach((id, r) => {
        for (let c = 0; c < D; c++) {
          const p = id * 2 + Math.floor(c / 32);
          want[r * D + c] = Math.fround(((codes.values as ArrayLike<number>)[id * D + c]! - z[p]!) * s[p]!);
          expect(Math.abs(want[r * D + c]! - table[id * D + c]!)).toBeLessThanOrEqual(s[p]! / 2 + 1e-6);
        }
      });
      const sess = await ort.InferenceSession.create(encodeModel(q));
      try {
        const out = (await sess.run({ ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [3]) })).y!;
        expect(maxAbsDiff(out.data as Float32Array, want)).toBeLessThan(1e-6);
      } finally {
        await sess.release();
      }
    }
  });
});
