import type { ModelProto, NodeProto } from 'onnx-buf';
import { describe, expect, it, vi } from 'vitest';
import { intAttribute } from '../../src/formats/onnx/attributes.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { decodeModel, encodeModel } from '../../src/formats/onnx/model.js';
import { makeTensor, readFloat32, readTensor, tensorDims } from '../../src/formats/onnx/tensor.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import type { QuantizeOptionsInput } from '../../src/onnx/quantize-options.js';
import { randomWeights } from './models.js';
import { runOrt } from './run-ort.js';
import { init, maxAbsDiff, nodeOf } from './weight-helpers.js';

vi.setConfig({ testTimeout: 60_000 });

const C = 8;
const K = 3;
/** Weights per output channel of the depthwise filter [C, 1, K, K]: the k of "at most ceil(weights / k) scales". */
const TAPS = K * K;

/** x → depthwise 3×3 Conv (group = C) → y, opset 21, every filter's range different (×(1 + c)) as in real depthwise layers. */
function depthwiseModel(): ModelProto {
  const w = randomWeights(C * TAPS, 7).map((v, i) => v * (1 + Math.floor(i / TAPS)));
  const g = makeGraph({
    nodes: [makeNode('Conv', ['x', 'W'], ['y'], { name: 'dw', attributes: { group: C, kernel_shape: [K, K], pads: [1, 1, 1, 1] } })],
    inputs: [makeValueInfo('x', 'float32', ['n', C, 6, 6])],
    outputs: [makeValueInfo('y', 'float32', ['n', C, 6, 6])],
    initializers: [makeTensor('W', 'float32', [C, 1, K, K], w)],
  });
  return makeModel(g, { '': 21 });
}

const feed = (seed: number, n = 2) => ({ x: { dims: [n, C, 6, 6], data: randomWeights(n * C * 36, seed) } });

/**
 * Symmetric round-to-nearest of each output channel by the definition: scale = max|w| / qmax over the
 * channel's K·K taps (narrow range: qmax 7 for int4, 3 for int3), q = clamp(round half to even(w / scale)),
 * ŵ = q · scale, all in float32.
 */
function referenceRtn(w: Float32Array, qmax: number): { codes: number[]; scales: number[]; values: Float32Array } {
  const codes: number[] = [];
  const scales: number[] = [];
  const values = new Float32Array(w.length);
  for (let c = 0; c < C; c++) {
    let m = 0;
    for (let t = 0; t < TAPS; t++) m = Math.max(m, Math.abs(w[c * TAPS + t]!));
    const s = Math.fround(m / qmax);
    scales.push(s);
    for (let t = 0; t < TAPS; t++) {
      const r = Math.fround(w[c * TAPS + t]! / s);
      const fl = Math.floor(r);
      const rounded = r - fl === 0.5 ? (fl % 2 === 0 ? fl : fl + 1) : Math.round(r);
      // + 0: a code is an integer, −0 rounds to 0.
      const q = Math.max(-qmax, Math.min(qmax, rounded)) + 0;
      codes.push(q);
      values[c * TAPS + t] = Math.fround(q * s);
    }
  }
  return { codes, scales, values };
}

/** The weight's DequantizeLinear: its node, codes, scales, zero points, and the weight it computes (per-axis along `axis`, by ONNX's definition). */
function decodeDq(m: ModelProto): { dq: NodeProto; codes: number[]; scales: Float32Array; zeroPoints: number[]; values: Float32Array } {
  const [dq] = nodeOf(m, 'DequantizeLinear');
  const q = readTensor(init(m, dq!.input[0]!));
  const scales = readFloat32(init(m, dq!.input[1]!));
  const zeroPoints = Array.from(readTensor(init(m, dq!.input[2]!)).values as ArrayLike<number>);
  const codes = Array.from(q.values as ArrayLike<number>);
  expect(intAttribute(dq!, 'axis', 1)).toBe(0);
  const values = Float32Array.from(codes, (v, i) => Math.fround((v - zeroPoints[Math.floor(i / TAPS)]!) * scales[Math.floor(i / TAPS)]!));
  return { dq: dq!, codes, scales, zeroPoints, values };
}

/** The float model with W replaced by `w`: what onnxruntime must compute from the decoded weight. */
function withWeight(m: ModelProto, w: Float32Array): ModelProto {
  const c = decodeModel(encodeModel(m));
  const t = init(c, 'W');
  c.graph!.initializer[c.graph!.initializer.indexOf(t)] = makeTensor('W', 'float32', tensorDims(t), w);
  return c;
}

describe('a depthwise Conv at 4 bits and fewer', () => {
  it.each([
    ['int4', 7],
    ['int3', 3],
  ] as const)('%s rtn stores one scale per output channel (ceil(weights / %i)), equal to round-to-nearest of each filter, and runs in onnxruntime', async (dtype, qmax) => {
    const m = depthwiseModel();
    const w = readFloat32(init(m, 'W'));
    const { model: q, report } = await quantizeModel(m, { dtype, blockSize: 32, symmetric: true });
    expect(report.nodes[0]).toMatchObject({ status: 'quantized', granularity: 'per-channel', axis: 0 });
    const d = decodeDq(q);
    // At most ceil(weights / TAPS) scales: per weight (the axis-1 blocks of one input channel) would be C · TAPS.
    expect(d.scales.length).toBeLessThanOrEqual(Math.ceil(w.length / TAPS));
    expect(intAttribute(d.dq, 'block_size')).toBeUndefined();
    const ref = referenceRtn(w, qmax);
    expect(d.zeroPoints).toEqual(new Array(C).fill(0));
    expect(Array.from(d.scales)).toEqual(ref.scales);
    expect(d.codes).toEqual(ref.codes);
    expect(d.values).toEqual(ref.values);
    // The file is honest: codes at 4 bits (int3 in int4) plus C float32 scales and C 4-bit zero points.
    expect(report.weightBytesAfter).toBe(Math.ceil(w.length / 2) + 4 * C + Math.ceil(C / 2));
    const xs = feed(3);
    const got = (await runOrt(q, xs)).y!;
    const want = (await runOrt(withWeight(m, d.values), xs)).y!;
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
  });

  it.each(['hqq', 'search', 'gptq', 'awq'] as const)('%s also stores one scale per output channel; gptq runs on the filters\' (channel, tap) Hessian, awq uses search there and says so', async (method) => {
    const m = depthwiseModel();
    const w = readFloat32(init(m, 'W'));
    const options: QuantizeOptionsInput = { dtype: 'int3', blockSize: 32, method, symmetric: true };
    const hooks = { runModel: createOrtRunner(), calibrationData: () => [{ x: { name: 'x', dtype: 'float32' as const, dims: [4, C, 6, 6], values: randomWeights(4 * C * 36, 11) } }] };
    const { model: q, report } = await quantizeModel(m, options, hooks);
    const node = report.nodes[0]!;
    expect(node).toMatchObject({ status: 'quantized', granularity: 'per-channel', axis: 0 });
    if (method === 'awq') expect(node).toMatchObject({ method: 'search', methodNote: expect.stringContaining('per-output-channel') });
    else expect(node).toMatchObject({ method });
    if (method === 'gptq') expect(node).not.toHaveProperty('methodNote');
    const d = decodeDq(q);
    expect(d.scales.length).toBeLessThanOrEqual(Math.ceil(w.length / TAPS));
    expect(d.codes.every((v) => v >= -4 && v <= 3)).toBe(true);
    // search minimizes each filter's squared error over scales that include round-to-nearest's (one input channel per filter: uniform importance), so it is no worse than RTN of the same grouping.
    const err = (a: Float32Array) => a.reduce((s, v, i) => s + (v - w[i]!) ** 2, 0);
    // gptq minimizes the output's error, not the weight's: its test is lowbit-conv-taps-hessian.test.ts.
    if (method === 'search' || method === 'awq') expect(err(d.values)).toBeLessThanOrEqual(err(referenceRtn(w, 3).values) * 1.0001);
    const xs = feed(5);
    expect(maxAbsDiff((await runOrt(q, xs)).y!, (await runOrt(withWeight(m, d.values), xs)).y!)).toBeLessThan(1e-5);
  });

  it('a group Conv with 16 inputs per group at 3×3 keeps blocks along its input channels (144 weights per scale would be coarser than asked)', async () => {
    const g = makeGraph({
      nodes: [makeNode('Conv', ['x', 'W'], ['y'], { name: 'gc', attributes: { group: 2, kernel_shape: [3, 3] } })],
      inputs: [makeValueInfo('x', 'float32', ['n', 32, 5, 5])],
      outputs: [makeValueInfo('y', 'float32', ['n', 4, 3, 3])],
      initializers: [makeTensor('W', 'float32', [4, 16, 3, 3], randomWeights(4 * 16 * 9, 9))],
    });
    const { report } = await quantizeModel(makeModel(g, { '': 21 }), { dtype: 'int4', blockSize: 32 });
    expect(report.nodes[0]).toMatchObject({ status: 'quantized', granularity: 'per-block', axis: 1, blockSize: 32 });
  });
});

describe('a one-input Conv with a long kernel (a filter bank) at 4 bits', () => {
  const M = 8;
  const T = 64;
  /** x [n, 1, 80] → Conv [M, 1, T] (a 1-D filter bank, as an STFT front end) → y [n, M, 17], opset 21. */
  function filterBank(): ModelProto {
    const g = makeGraph({
      nodes: [makeNode('Conv', ['x', 'W'], ['y'], { name: 'bank', attributes: { kernel_shape: [T] } })],
      inputs: [makeValueInfo('x', 'float32', ['n', 1, 80])],
      outputs: [makeValueInfo('y', 'float32', ['n', M, 17])],
      initializers: [makeTensor('W', 'float32', [M, 1, T], randomWeights(M * T, 21).map((v, i) => v * (1 + (i % T) / 8)))],
    });
    return makeModel(g, { '': 21 });
  }
  const bankFeed = (seed: number, n = 2) => ({ x: { dims: [n, 1, 80], data: randomWeights(n * 80, seed) } });

  it('is blocked along its taps, 32 weights a scale, equal to round-to-nearest of each block, and runs in onnxruntime', async () => {
    const m = filterBank();
    const w = readFloat32(init(m, 'W'));
    const { model: q, report } = await quantizeModel(m, { dtype: 'int4', blockSize: 32, symmetric: true });
    expect(report.nodes[0]).toMatchObject({ status: 'quantized', granularity: 'per-block', axis: 2, blockSize: 32 });
    const [dq] = nodeOf(q, 'DequantizeLinear');
    expect(intAttribute(dq!, 'axis')).toBe(2);
    expect(intAttribute(dq!, 'block_size')).toBe(32);
    const scales = readFloat32(init(q, dq!.input[1]!));
    const codes = Array.from(readTensor(init(q, dq!.input[0]!)).values as ArrayLike<number>);
    // Per output channel would be M scales over 64 taps each; per axis-1 block, one scale per weight.
    expect(scales.length).toBe((M * T) / 32);
    for (let b = 0; b < scales.length; b++) {
      let mx = 0;
      for (let t = 0; t < 32; t++) mx = Math.max(mx, Math.abs(w[b * 32 + t]!));
      const sc = Math.fround(mx / 7);
      expect(scales[b]).toBe(sc);
      for (let t = 0; t < 32; t++) {
        const r = Math.fround(w[b * 32 + t]! / sc);
        const fl = Math.floor(r);
        expect(codes[b * 32 + t]).toBe(Math.max(-7, Math.min(7, r - fl === 0.5 ? (fl % 2 === 0 ? fl : fl + 1) : Math.round(r))) + 0);
      }
    }
    const values = Float32Array.from(codes, (v, i) => Math.fround(v * scales[Math.floor(i / 32)]!));
    const xs = bankFeed(3);
    expect(maxAbsDiff((await runOrt(q, xs)).y!, (await runOrt(withWeight(m, values), xs)).y!)).toBeLessThan(1e-5);
  });

  it('gptq runs there on the Hessian of its input windows over the taps; awq, whose statistics are per input channel, uses search and says why', async () => {
    const hooks = { runModel: createOrtRunner(), calibrationData: () => [{ x: { name: 'x', dtype: 'float32' as const, dims: [4, 1, 80], values: randomWeights(4 * 80, 11) } }] };
    const { model: q, report } = await quantizeModel(filterBank(), { dtype: 'int4', blockSize: 32, method: 'gptq' }, hooks);
    expect(report.nodes[0]).toMatchObject({ status: 'quantized', axis: 2, method: 'gptq' });
    expect(report.nodes[0]).not.toHaveProperty('methodNote');
    expect((await runOrt(q, bankFeed(5))).y!.length).toBe(2 * M * 17);
    const awq = await quantizeModel(filterBank(), { dtype: 'int4', blockSize: 32, method: 'awq' }, hooks);
    expect(awq.report.nodes[0]).toMatchObject({ status: 'quantized', axis: 2, method: 'search', methodNote: expect.stringContaining('kernel taps') });
  });
});
