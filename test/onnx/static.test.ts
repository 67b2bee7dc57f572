import type { ModelProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { createObserver } from '../../src/core/observers/builtin-observers.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { makeTensor, readFloat32, readTensor, tensorDims } from '../../src/formats/onnx/tensor.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { calibrate } from '../../src/onnx/calibration/calibrate.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import type { TensorMap } from '../../src/onnx/run-model.js';
import type { StaticQuantizeReport } from '../../src/onnx/modes/static.js';
import { mlpModel, randomWeights } from './models.js';
import { convReluModel, floatBatches, ifModel, matmulChainModel, maxAbs, maxAbsDiff } from './quantized-models.js';
import { runOrt } from './run-ort.js';
import { evaluateReference, ortAndReference, refFloat, ROUNDING } from './reference-graph.js';

const runModel = createOrtRunner();
const ops = (m: ModelProto) => m.graph!.node.map((n) => n.opType);
function init(m: ModelProto, name: string) {
  const t = m.graph!.initializer.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  return t;
}
/**
 * onnxruntime gives the reference evaluation of the quantized graph (exact integer sums, so on
 * every CPU whose kernels are exact), and that is within `bound` of the float model (relative to
 * its largest output).
 */
async function expectExactAndClose(m: ModelProto, q: ModelProto, feeds: Record<string, { dims: number[]; data: Float32Array }>, bound: number, out = 'y') {
  const { ref, relError } = await ortAndReference(q, feeds, runOrt);
  expect(relError).toBeLessThan(ROUNDING);
  const a = await runOrt(m, feeds);
  expect(maxAbsDiff(a[out]!, ref[out]!) / maxAbs(a[out]!)).toBeLessThan(bound);
}

function concat(arrays: Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) (out.set(a, o), (o += a.length));
  return out;
}

describe('static quantization (QDQ)', () => {
  it('MatMul chain: one Q/DQ pair per activation with the minmax observer parameters over all batches; output close', async () => {
    const m = matmulChainModel();
    const batches = floatBatches('x', [2, 32], 4, 100);
    const { model: q, report } = await quantizeModel(m, { mode: 'static' }, { runModel, calibrationData: () => batches });
    expect(report.integer).toMatchObject({ target: 'portable', activations: 'uint8', weights: 'uint8', weightSymmetric: true, kernel: 'U8U8' });
    expect(ops(q)).toEqual([
      'QuantizeLinear', 'DequantizeLinear', // the graph input x
      'DequantizeLinear', 'DequantizeLinear', // weights, uint8 symmetric per channel (the default)
      'MatMul', 'QuantizeLinear', 'DequantizeLinear', 'Relu', 'QuantizeLinear', 'DequantizeLinear', 'MatMul', 'QuantizeLinear', 'DequantizeLinear',
    ]);
    expect(report.nodes.map((n) => n.status === 'quantized' && [n.node, n.form, n.tensors])).toEqual([
      ['mm1', 'QDQ', ['W1', 'x', 'h']],
      ['mm2', 'QDQ', ['W2', 'r', 'y']],
    ]);
    const cal = (report as StaticQuantizeReport).calibration;
    expect(cal).toMatchObject({ observer: 'minmax', batches: 4, tensors: 4, generatedInputs: false });
    expect(cal.runtimeMs).toBeGreaterThan(0);
    expect(report.nodes.map((n) => n.status === 'quantized' && n.granularity)).toEqual(['per-channel', 'per-channel']);
    // x's parameters equal a minmax observer's uint8 asymmetric qparams over the four batches.
    const o = createObserver('minmax');
    o.update(concat(batches.map((b) => b.x!.values as Float32Array)), [8, 32]);
    const p = o.qparams({ dtype: 'uint8', symmetric: false });
    const qx = q.graph!.node.find((n) => n.opType === 'QuantizeLinear' && n.input[0] === 'x')!;
    expect(readFloat32(init(q, qx.input[1]!))[0]).toBe(p.scale[0]);
    expect((readTensor(init(q, qx.input[2]!)).values as Uint8Array)[0]).toBe(p.zeroPoint[0]);
    // The graph output keeps its name on the last DequantizeLinear.
    expect(q.graph!.node.at(-1)!.output).toEqual(['y']);
    // Four roundings of ~range/255 each through two layers: a few percent of the output range.
    await expectExactAndClose(m, q, { x: { dims: [2, 32], data: batches[1]!.x!.values as Float32Array } }, 0.05);
    // Per tensor on request.
    const pt = await quantizeModel(m, { mode: 'static', perChannel: false }, { runModel, calibrationData: () => batches });
    expect(pt.report.nodes.map((n) => n.status === 'quantized' && n.granularity)).toEqual(['per-tensor', 'per-tensor']);
  });

  it('calibration merged batch by batch equals one minmax pass over all batches', async () => {
    const m = matmulChainModel(17, 'N');
    const batches = floatBatches('x', [2, 32], 5, 7);
    const merged = await calibrate(m, ['x', 'h', 'r'], { runModel, batches, observer: 'minmax' });
    expect(merged.batches).toBe(5);
    const whole = await calibrate(m, ['x', 'h', 'r'], {
      runModel,
      batches: [{ x: { name: 'x', dtype: 'float32', dims: [10, 32], values: concat(batches.map((b) => b.x!.values as Float32Array)) } }],
      observer: 'minmax',
    });
    for (const t of ['x', 'h', 'r']) {
      const r1 = merged.observers.get(t)!.range({ dtype: 'int8' });
      const r2 = whole.observers.get(t)!.range({ dtype: 'int8' });
      expect([r1.min[0], r1.max[0]]).toEqual([r2.min[0], r2.max[0]]);
    }
  });

  it('a NaN in an activation names the tensor and the batch', async () => {
    const m = matmulChainModel(17, 'N');
    const batches = floatBatches('x', [2, 32], 3, 7);
    (batches[1]!.x!.values as Float32Array)[5] = NaN;
    await expect(calibrate(m, ['x', 'h'], { runModel, batches, observer: 'minmax' })).rejects.toMatchObject({
      code: 'NAN_INPUT',
      message: expect.stringMatching(/^tensor 'x' in calibration batch 1: .*NaN at index 5/),
    });
  });

  it.each([
    ['percentile', 'percentile'],
    ['mse', 'histogram'],
    ['entropy', 'entropy'],
  ] as const)('observer %s: the activation scale is the %s observer’s on the same data', async (name, kind) => {
    const m = matmulChainModel();
    const batches = floatBatches('x', [2, 32], 2, 40);
    const { model: q } = await quantizeModel(m, { mode: 'static', observer: name }, { runModel, calibrationData: () => batches });
    const o = createObserver(kind);
    for (const b of batches) {
      const one = createObserver(kind);
      one.update(b.x!.values as Float32Array, b.x!.dims);
      o.merge(one);
    }
    const qx = q.graph!.node.find((n) => n.opType === 'QuantizeLinear' && n.input[0] === 'x')!;
    expect(readFloat32(init(q, qx.input[1]!))[0]).toBe(o.qparams({ dtype: 'uint8', symmetric: false }).scale[0]);
  });

  it('Gemm with bias (uint8): weights and activations quantized, bias stays float, output close', async () => {
    const m = mlpModel();
    const batches = floatBatches('x', [1, 64], 4, 3);
    const { model: q, report } = await quantizeModel(m, { mode: 'static', dtype: 'uint8' }, { runModel, calibrationData: () => batches });
    const gemm = q.graph!.node.find((n) => n.opType === 'Gemm')!;
    expect(gemm.input[2]).toBe('c2');
    // The Gemm produces the graph output y (renamed for its QuantizeLinear) and still reads the dequantized h2.
    expect(gemm.input[0]).toBe(q.graph!.node.find((n) => n.opType === 'DequantizeLinear' && n.input[0] === 'h2_quantized')!.output[0]);
    expect(gemm.output[0]).toBe('y_QuantizeLinear_Input');
    expect(report.nodes[1]).toMatchObject({ node: 'gemm', status: 'quantized', dtype: 'uint8', form: 'QDQ' });
    expect(readTensor(init(q, q.graph!.node.find((n) => n.opType === 'QuantizeLinear')!.input[2]!)).dtype).toBe('uint8');
    await expectExactAndClose(m, q, { x: { dims: [1, 64], data: batches[0]!.x!.values as Float32Array } }, 0.05);
  });

  it('MatMuls inside If branches: outer-scope activations get Q/DQ in the main graph, branch outputs stay float (warned)', async () => {
    const m = ifModel();
    const batches: TensorMap[] = floatBatches('x', [1, 16], 3, 9).map((b) => ({ ...b, cond: { name: 'cond', dtype: 'bool', dims: [], values: new Uint8Array([1]) } }));
    const { model: q, report } = await quantizeModel(m, { mode: 'static' }, { runModel, calibrationData: () => batches });
    expect(report.nodes.map((n) => [n.node, n.status])).toEqual([['then_mm', 'quantized'], ['else_mm', 'quantized']]);
    expect(report.warnings.join('\n')).toMatch(/then_mm: activations 't' live inside a subgraph/);
    expect(ops(q)).toEqual(['QuantizeLinear', 'DequantizeLinear', 'DequantizeLinear', 'If']);
    const thenMm = q.graph!.node[3]!.attribute[0]!.g!.node[0]!;
    expect(thenMm.input[0]).toBe(q.graph!.node[1]!.output[0]);
    const feeds = { x: new Float32Array(batches[0]!.x!.values as Float32Array) };
    const ort = await import('onnxruntime-node');
    const { encodeModel } = await import('../../src/formats/onnx/model.js');
    const outs: Float32Array[] = [];
    for (const model of [m, q]) {
      const s = await ort.InferenceSession.create(encodeModel(model));
      const r = await s.run({ x: new ort.Tensor('float32', feeds.x, [1, 16]), cond: new ort.Tensor('bool', new Uint8Array([1]), []) });
      outs.push(r.y!.data as Float32Array);
      await s.release();
    }
    const ref = refFloat(evaluateReference(q, { x: { dims: [1, 16], data: feeds.x }, cond: { type: 'bool', dims: [], data: Float64Array.of(1) } }).y!);
    expect(maxAbsDiff(outs[1]!, ref) / maxAbs(ref)).toBeLessThan(ROUNDING);
    expect(maxAbsDiff(outs[0]!, ref) / maxAbs(outs[0]!)).toBeLessThan(0.03);
  });
});

describe('static quantization (QOperator)', () => {
  it('Conv + Relu: QLinearConv with an int32 bias = round(B / (x_scale · w_scale)); no float Conv left; output close', async () => {
    const m = convReluModel();
    const batches = floatBatches('x', [1, 3, 8, 8], 3, 50);
    const { model: q, report } = await quantizeModel(m, { mode: 'static', perChannel: true, format: 'qoperator' }, { runModel, calibrationData: () => batches });
    expect(ops(q)).toEqual(['QuantizeLinear', 'QLinearConv', 'DequantizeLinear', 'Relu']);
    expect(report.nodes[0]).toMatchObject({ node: 'conv', form: 'QLinearConv', granularity: 'per-channel' });
    const conv = q.graph!.node[1]!;
    const xScale = readFloat32(init(q, conv.input[1]!))[0]!;
    const wScale = readFloat32(init(q, conv.input[4]!));
    const bias = readTensor(init(q, conv.input[8]!));
    expect(bias.dtype).toBe('int32');
    const b = readFloat32(init(m, 'B'));
    expect(Array.from(bias.values as Int32Array)).toEqual(Array.from(b, (v, i) => Math.round(v / Math.fround(xScale * wScale[i]!))));
    expect(q.graph!.initializer.some((t) => t.name === 'B' || t.name === 'W')).toBe(false);
    await expectExactAndClose(m, q, { x: { dims: [1, 3, 8, 8], data: batches[0]!.x!.values as Float32Array } }, 0.03);
  });

  it('MatMul chain, per-tensor or per-column weights: QLinearMatMul reads the previous quantized tensor where no float reader needs it', async () => {
    const m = matmulChainModel();
    const batches = floatBatches('x', [2, 32], 3, 60);
    const { model: q } = await quantizeModel(m, { mode: 'static', format: 'qoperator', perChannel: false }, { runModel, calibrationData: () => batches });
    expect(ops(q)).toEqual(['QuantizeLinear', 'QLinearMatMul', 'DequantizeLinear', 'Relu', 'QuantizeLinear', 'QLinearMatMul', 'DequantizeLinear']);
    await expectExactAndClose(m, q, { x: { dims: [2, 32], data: batches[0]!.x!.values as Float32Array } }, 0.05);
    // Per column (the default): QLinearMatMul reads [N] weight scales and zero points.
    const pc = await quantizeModel(m, { mode: 'static', format: 'qoperator' }, { runModel, calibrationData: () => batches });
    expect(ops(pc.model)).toEqual(ops(q));
    expect(pc.report.warnings).toEqual([]);
    expect(tensorDims(init(pc.model, pc.model.graph!.node[5]!.input[4]!))).toEqual([8]);
    await expectExactAndClose(m, pc.model, { x: { dims: [2, 32], data: batches[0]!.x!.values as Float32Array } }, 0.05);
  });
});

describe('static quantization: inputs and errors', () => {
  it('without calibration data, inputs are generated from the input specs and the report says so', async () => {
    const events: string[] = [];
    const { report } = await quantizeModel(matmulChainModel(), { mode: 'static' }, { runModel, onProgress: (e) => events.push(`${e.phase}:${e.done}/${e.total}`) });
    expect((report as StaticQuantizeReport).calibration).toMatchObject({ generatedInputs: true, batches: 8 });
    expect(report.warnings[0]).toMatch(/^NO CALIBRATION DATA/);
    expect(events).toContain('calibrate:8/8');
  });

  it('no runner, a 4-bit dtype, a batch missing an input: clear QuantErrors', async () => {
    await expect(quantizeModel(matmulChainModel(), { mode: 'static' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/expected hooks.runModel/) });
    await expect(quantizeModel(matmulChainModel(), { mode: 'static', dtype: 'int4' }, { runModel })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    await expect(
      quantizeModel(matmulChainModel(), { mode: 'static' }, { runModel, calibrationData: () => [{ y: { name: 'y', dtype: 'float32', dims: [2, 32], values: randomWeights(64, 1) } }] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/no value for model input 'x'/) });
  });

  it('opset 11, per-channel Conv weights: the bias becomes int32 behind com.microsoft.DequantizeLinear (axis 0), so onnxruntime loads it; output close', async () => {
    // onnxruntime's own bias rewrite would write an ai.onnx DequantizeLinear with an axis here, which opset 11 rejects.
    const m = convReluModel(11);
    const batches = floatBatches('x', [1, 3, 8, 8], 3, 60);
    const { model: q, report } = await quantizeModel(m, { mode: 'static', perChannel: true }, { runModel, calibrationData: () => batches });
    const conv = q.graph!.node.find((n) => n.opType === 'Conv')!;
    const biasDq = q.graph!.node.find((n) => n.output[0] === conv.input[2])!;
    expect([biasDq.opType, biasDq.domain, biasDq.attribute.map((a) => [a.name, Number(a.i)])]).toEqual(['DequantizeLinear', 'com.microsoft', [['axis', 0]]]);
    const xScale = readFloat32(init(q, q.graph!.node.find((n) => n.opType === 'QuantizeLinear' && n.input[0] === 'x')!.input[1]!))[0]!;
    const wScale = readFloat32(init(q, q.graph!.node.find((n) => n.output[0] === conv.input[1])!.input[1]!));
    const codes = readTensor(init(q, biasDq.input[0]!));
    expect(codes.dtype).toBe('int32');
    const b = readFloat32(init(m, 'B'));
    expect(Array.from(codes.values as Int32Array)).toEqual(Array.from(b, (v, i) => Math.round(v / Math.fround(xScale * wScale[i]!))));
    expect(Array.from(readFloat32(init(q, biasDq.input[1]!)))).toEqual(Array.from(wScale, (w) => Math.fround(xScale * w)));
    expect(q.graph!.initializer.some((t) => t.name === 'B')).toBe(false);
    expect(report.nodes[0]).toMatchObject({ node: 'conv', status: 'quantized', tensors: ['W', 'B', 'x', 'c'], form: 'QDQ' });
    expect(report.warnings.some((w) => /1 bias\(es\) of nodes with per-channel weights written as int32/.test(w))).toBe(true);
    expect(q.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 11], ['com.microsoft', 1]]);
    await expectExactAndClose(m, q, { x: { dims: [1, 3, 8, 8], data: batches[0]!.x!.values as Float32Array } }, 0.05);
  });

  it('quantizeBias at opset 17 with per-tensor weights: an ai.onnx DequantizeLinear without axis; Gemm bias too', async () => {
    const m = mlpModel();
    const batches = floatBatches('x', [1, 64], 3, 70);
    const { model: q } = await quantizeModel(m, { mode: 'static', quantizeBias: true, perChannel: false }, { runModel, calibrationData: () => batches });
    const gemm = q.graph!.node.find((n) => n.opType === 'Gemm')!;
    const dq = q.graph!.node.find((n) => n.output[0] === gemm.input[2])!;
    expect([dq.opType, dq.domain, dq.attribute.length]).toEqual(['DequantizeLinear', '', 0]);
    expect(readTensor(init(q, dq.input[0]!)).dims).toEqual([16]);
    expect(readTensor(init(q, dq.input[1]!)).dims).toEqual([]);
    await expectExactAndClose(m, q, { x: { dims: [1, 64], data: batches[0]!.x!.values as Float32Array } }, 0.05);
  });

  it('an opset-9 model is raised to opset 11 (Slice attributes become inputs), said in the warnings, and runs', async () => {
    const m = convReluModel(9);
    m.graph!.node.push(makeNode('Slice', ['y'], ['z'], { name: 'slice', attributes: { starts: [1], ends: [3], axes: [1] } }));
    m.graph!.output[0] = makeValueInfo('z', 'float32', [1, 2, 6, 6]);
    const batches = floatBatches('x', [1, 3, 8, 8], 2, 80);
    const { model: q, report } = await quantizeModel(m, { mode: 'static', perChannel: true }, { runModel, calibrationData: () => batches });
    expect((report as StaticQuantizeReport).opsetUpgrade).toEqual({ from: 9, to: 11, rewritten: [{ opType: 'Slice', count: 1, change: 'starts/ends/axes attributes -> inputs' }] });
    expect(report.warnings[0]).toMatch(/^OPSET RAISED: ai.onnx opset 9 -> 11/);
    expect(Number(q.opsetImport.find((o) => o.domain === '')!.version)).toBe(11);
    await expectExactAndClose(m, q, { x: { dims: [1, 3, 8, 8], data: batches[1]!.x!.values as Float32Array } }, 0.05, 'z');
  });

  it('an opset-9 model with a nearest Upsample (as older PyTorch exports) is raised with it as Resize-11, and runs', async () => {
    const m = convReluModel(9);
    m.graph!.initializer.push(makeTensor('up_scales', 'float32', [4], Float32Array.from([1, 1, 2, 2])));
    m.graph!.node.push(makeNode('Upsample', ['y', 'up_scales'], ['z'], { name: 'up', attributes: { mode: 'nearest' } }));
    m.graph!.output[0] = makeValueInfo('z', 'float32', [1, 4, 12, 12]);
    const batches = floatBatches('x', [1, 3, 8, 8], 2, 81);
    const { model: q, report } = await quantizeModel(m, { mode: 'static', perChannel: true }, { runModel, calibrationData: () => batches });
    expect((report as StaticQuantizeReport).opsetUpgrade?.rewritten).toEqual([{ opType: 'Upsample', count: 1, change: 'Upsample -> Resize-11 (asymmetric coordinates)' }]);
    expect(ops(q)).toContain('Resize');
    await expectExactAndClose(m, q, { x: { dims: [1, 3, 8, 8], data: batches[1]!.x!.values as Float32Array } }, 0.05, 'z');
  });
});

describe('grouped convolutions', () => {
  /** A depthwise Conv whose channels' weights differ by a factor 1000: one scale for all rounds the small ones to zero. */
  function depthwiseModel() {
    const w = randomWeights(36, 17).map((v, i) => Math.fround(v * 10 ** -Math.floor(i / 9)));
    const g = makeGraph({
      nodes: [makeNode('Conv', ['x', 'W'], ['y'], { name: 'dw', attributes: { kernel_shape: [3, 3], group: 4, pads: [1, 1, 1, 1] } })],
      inputs: [makeValueInfo('x', 'float32', [1, 4, 8, 8])],
      outputs: [makeValueInfo('y', 'float32', [1, 4, 8, 8])],
      initializers: [makeTensor('W', 'float32', [4, 1, 3, 3], w)],
    });
    return makeModel(g, { '': 17 });
  }

  it.each([
    ['static', { mode: 'static' as const }],
    ['weight-only', { mode: 'weight-only' as const }],
    ['dynamic', { mode: 'dynamic' as const, opTypes: ['Conv'] }],
  ])('%s: depthwise Conv weights are per channel even with perChannel false, so the smallest channel keeps its values', async (_name, opts) => {
    const m = depthwiseModel();
    const batches = floatBatches('x', [1, 4, 8, 8], 2, 30);
    const { model: q, report } = await quantizeModel(m, { ...opts, perChannel: false }, { runModel, calibrationData: () => batches });
    expect(report.nodes[0]).toMatchObject({ node: 'dw', status: 'quantized', granularity: 'per-channel', axis: 0 });
    const feeds = { x: { dims: [1, 4, 8, 8], data: batches[0]!.x!.values as Float32Array } };
    const { ref, relError } = await ortAndReference(q, feeds, runOrt);
    expect(relError).toBeLessThan(ROUNDING);
    // The last channel's weights (~1e-3) use the whole code range, not the few codes around zero a shared scale leaves them.
    const codes = q.graph!.initializer.find((t) => t.dims.length === 4 && t.dataType !== 1)!;
    const t = readTensor(codes);
    const zp = t.dtype === 'uint8' ? 128 : 0;
    const v = Array.from(t.values as Uint8Array | Int8Array);
    expect(Math.max(...v.slice(27).map((c) => Math.abs(c - zp)))).toBeGreaterThanOrEqual(120);
    if (opts.mode !== 'static') {
      // Without a quantized output activation, the last channel's output is within a few percent of its own magnitude.
      const a = (await runOrt(m, feeds)).y!;
      const last = (t: Float32Array) => t.subarray(3 * 64);
      expect(maxAbsDiff(last(a), last(ref.y!)) / maxAbs(last(a))).toBeLessThan(0.05);
    }
  });

  it('dynamic with asymmetric weights leaves a depthwise Conv float, saying why (ConvInteger takes one zero point)', async () => {
    const { report } = await quantizeModel(depthwiseModel(), { mode: 'dynamic', opTypes: ['Conv'], symmetric: false });
    expect(report.nodes[0]).toMatchObject({ node: 'dw', status: 'float', reason: expect.stringMatching(/grouped Conv needs per-channel weights, and ConvInteger takes one weight zero point/) });
  });
});
