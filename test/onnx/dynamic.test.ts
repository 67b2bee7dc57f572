import type { ModelProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { computeQParams, quantize } from '../../src/core/quantize.js';
import { intAttribute } from '../../src/formats/onnx/attributes.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { makeTensor, readFloat32, readTensor, tensorDims } from '../../src/formats/onnx/tensor.js';
import type { DynamicQuantizeReport } from '../../src/onnx/dynamic.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { mlpModel, randomWeights } from './models.js';
import { convReluModel, ifModel, maxAbs, maxAbsDiff } from './quantized-models.js';
import { runOrt } from './run-ort.js';

function init(m: ModelProto, name: string) {
  const t = m.graph!.initializer.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  return t;
}
const ops = (m: ModelProto) => m.graph!.node.map((n) => n.opType);

function singleMatMul() {
  const g = makeGraph({
    nodes: [makeNode('MatMul', ['x', 'W'], ['y'], { name: 'mm' })],
    inputs: [makeValueInfo('x', 'float32', [1, 32])],
    outputs: [makeValueInfo('y', 'float32', [1, 16])],
    initializers: [makeTensor('W', 'float32', [32, 16], randomWeights(512, 31))],
  });
  return makeModel(g, { '': 17 });
}

describe('dynamic quantization', () => {
  it('MatMul becomes DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scales) → Mul, within the rounding bound', async () => {
    const m = singleMatMul();
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic', dtype: 'int8', perChannel: true });
    expect(ops(q)).toEqual(['DynamicQuantizeLinear', 'MatMulInteger', 'Cast', 'Mul', 'Mul']);
    expect(report.nodes).toEqual([{ node: 'mm', opType: 'MatMul', status: 'quantized', tensors: ['W', 'x'], dtype: 'int8', granularity: 'per-channel', axis: 1, form: 'MatMulInteger' }]);
    const [dql, mmi, cast, mulScales, mulOut] = q.graph!.node;
    expect(mmi!.input).toEqual([dql!.output[0], mmi!.input[1], dql!.output[2], mmi!.input[3]]);
    expect(intAttribute(cast!, 'to')).toBe(1);
    expect(mulScales!.input[0]).toBe(dql!.output[1]);
    expect(mulOut!.output).toEqual(['y']);
    expect(q.graph!.initializer.some((t) => t.name === 'W')).toBe(false);
    // Weight codes, scales and zero points are the core's per-column symmetric narrow int8 (ORT's QInt8 weights).
    const w = readFloat32(init(m, 'W'));
    const p = computeQParams(w, [32, 16], { dtype: 'int8', symmetric: true, narrow: true, granularity: { kind: 'per-axis', axis: 1 } });
    const scale = readFloat32(init(q, mmi!.input[1]!.replace('_quantized', '_scale')));
    expect(Array.from(scale)).toEqual(Array.from(p.scale));
    expect(Array.from(readTensor(init(q, mmi!.input[1]!)).values as Int8Array)).toEqual(Array.from(quantize(w, [32, 16], { params: p }).codes));
    expect(Array.from(readTensor(init(q, mmi!.input[3]!)).values as Int8Array)).toEqual(new Array(16).fill(0));

    const x = randomWeights(32, 77);
    const [a, b] = [await runOrt(m, { x: { dims: [1, 32], data: x } }), await runOrt(q, { x: { dims: [1, 32], data: x } })];
    // |x̂ŵ − xw| ≤ Σ_k |x_k|·sW/2 + (|w_k| + sW/2)·sA/2 with sA the DynamicQuantizeLinear step of x.
    const sA = (Math.max(0, ...x) - Math.min(0, ...x)) / 255;
    for (let c = 0; c < 16; c++) {
      let bound = 0;
      for (let k = 0; k < 32; k++) bound += (Math.abs(x[k]!) * scale[c]!) / 2 + ((Math.abs(w[k * 16 + c]!) + scale[c]! / 2) * sA) / 2;
      expect(Math.abs(a.y![c]! - b.y![c]!)).toBeLessThanOrEqual(bound * 1.0001 + 1e-6);
      expect(bound).toBeLessThan(0.2);
    }
  });

  it('Gemm (transB, bias) and a MatMul chain in uint8: bias Add kept, outputs close, one DynamicQuantizeLinear per activation', async () => {
    const m = mlpModel();
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic', dtype: 'uint8' });
    expect(ops(q)).toEqual(['DynamicQuantizeLinear', 'MatMulInteger', 'Cast', 'Mul', 'Mul', 'Add', 'Relu', 'DynamicQuantizeLinear', 'MatMulInteger', 'Cast', 'Mul', 'Mul', 'Add']);
    expect(report.nodes.map((n) => n.status)).toEqual(['quantized', 'quantized']);
    const zp = init(q, q.graph!.node[1]!.input[3]!);
    expect(readTensor(zp).dtype).toBe('uint8');
    // The Gemm weight [M, N] is transposed to MatMulInteger's [K, N].
    expect(tensorDims(init(q, q.graph!.node[8]!.input[1]!))).toEqual([48, 16]);
    expect(q.graph!.node[12]!.input[1]).toBe('c2');
    const feeds = { x: { dims: [1, 64], data: randomWeights(64, 9) } };
    const [a, b] = [await runOrt(m, feeds), await runOrt(q, feeds)];
    expect(maxAbsDiff(a.y!, b.y!) / maxAbs(a.y!)).toBeLessThan(0.03);
  });

  it('Conv + Relu: ConvInteger with per-tensor weights and the bias reshaped to [1, M, 1, 1]; Relu stays float and is listed', async () => {
    const m = convReluModel();
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic', perChannel: true, opTypes: ['Conv', 'Relu'] });
    expect(ops(q)).toEqual(['DynamicQuantizeLinear', 'ConvInteger', 'Cast', 'Mul', 'Mul', 'Add', 'Relu']);
    expect(report.nodes[0]).toMatchObject({ node: 'conv', status: 'quantized', granularity: 'per-tensor', form: 'ConvInteger' });
    expect(report.nodes[1]).toMatchObject({ node: 'relu', status: 'float' });
    expect(report.warnings.join()).toMatch(/ConvInteger takes per-tensor weights/);
    const add = q.graph!.node[5]!;
    expect(tensorDims(init(q, add.input[1]!))).toEqual([1, 4, 1, 1]);
    expect(q.graph!.initializer.some((t) => t.name === 'B' || t.name === 'W')).toBe(false);
    const feeds = { x: { dims: [1, 3, 8, 8], data: randomWeights(192, 3) } };
    const [a, b] = [await runOrt(m, feeds), await runOrt(q, feeds)];
    expect(maxAbsDiff(a.y!, b.y!) / maxAbs(a.y!)).toBeLessThan(0.03);
  });

  it('MatMuls inside If branches read the outer x and W: lowered in each branch and run in onnxruntime', async () => {
    const m = ifModel();
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic' });
    expect(report.nodes.map((n) => [n.node, n.status])).toEqual([['then_mm', 'quantized'], ['else_mm', 'quantized']]);
    expect(q.graph!.initializer.some((t) => t.name === 'W')).toBe(false);
    const x = { dims: [1, 16], data: randomWeights(16, 5) };
    for (const cond of [0, 1]) {
      const bytes = await import('../../src/formats/onnx/model.js').then((mod) => [mod.encodeModel(m), mod.encodeModel(q)]);
      const ort = await import('onnxruntime-node');
      const outs: Float32Array[] = [];
      for (const model of bytes) {
        const s = await ort.InferenceSession.create(model!);
        const r = await s.run({ x: new ort.Tensor('float32', x.data, x.dims), cond: new ort.Tensor('bool', new Uint8Array([cond]), []) });
        outs.push(r.y!.data as Float32Array);
        await s.release();
      }
      expect(maxAbsDiff(outs[0]!, outs[1]!) / maxAbs(outs[0]!)).toBeLessThan(0.03);
    }
  });

  it('4-bit dtypes and old opsets are clear errors; runtime weights stay float with the reason', async () => {
    await expect(quantizeModel(singleMatMul(), { mode: 'dynamic', dtype: 'int4' })).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/int8 or uint8.*got dtype int4/) });
    // An opset-9 model whose nearest Upsample has run-time scales has no exact opset-11 form: refused, naming it.
    const up = makeGraph({
      nodes: [makeNode('Upsample', ['x0', 'scales'], ['x'], { name: 'up' }), makeNode('MatMul', ['x', 'W'], ['y'], { name: 'mm' })],
      inputs: [makeValueInfo('x0', 'float32', [1, 16]), makeValueInfo('scales', 'float32', [2])],
      outputs: [makeValueInfo('y', 'float32', [2, 16])],
      initializers: [makeTensor('W', 'float32', [32, 16], randomWeights(512, 31))],
    });
    await expect(quantizeModel(makeModel(up, { '': 9 }), { mode: 'dynamic' })).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/opset 9 and this mode needs opset 11.*Upsample 'up': its scales 'scales' are computed at run time/) });
    const g = makeGraph({
      nodes: [makeNode('MatMul', ['x', 'w'], ['y'], { name: 'mm' })],
      inputs: [makeValueInfo('x', 'float32', [1, 4]), makeValueInfo('w', 'float32', [4, 2])],
      outputs: [makeValueInfo('y', 'float32', [1, 2])],
    });
    const { report } = await quantizeModel(makeModel(g, { '': 17 }), { mode: 'dynamic' });
    expect(report.nodes).toEqual([{ node: 'mm', opType: 'MatMul', status: 'float', reason: "weight 'w' is computed at run time, not a constant" }]);
  });

  it('a weight holding NaN leaves its node float with the reason, as weight-only does, and the rest is quantized', async () => {
    const m = mlpModel();
    const w1 = m.graph!.initializer.find((t) => t.name === 'W1')!;
    const v = Float32Array.from(readFloat32(w1));
    v[3] = NaN;
    w1.rawData = new Uint8Array(v.buffer);
    const { report } = await quantizeModel(m, { mode: 'dynamic' });
    expect(report.nodes.map((n) => [n.node, n.status])).toEqual([
      ['mm', 'float'],
      ['gemm', 'quantized'],
    ]);
    expect(report.nodes[0]).toMatchObject({ reason: expect.stringMatching(/^weight 'W1': .*NaN at index 3/) });
  });

  it('an opset-9 model (Clip with min/max attributes) is raised to opset 11 first, said loudly; the result runs in onnxruntime', async () => {
    const g = makeGraph({
      nodes: [makeNode('Clip', ['x'], ['c'], { name: 'clip', attributes: { min: { float: -0.75 }, max: { float: 0.75 } } }), makeNode('MatMul', ['c', 'W'], ['y'], { name: 'mm' })],
      inputs: [makeValueInfo('x', 'float32', [1, 32])],
      outputs: [makeValueInfo('y', 'float32', [1, 16])],
      initializers: [makeTensor('W', 'float32', [32, 16], randomWeights(512, 31))],
    });
    const m = makeModel(g, { '': 9 });
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic' });
    expect(q.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 11]]);
    expect((report as DynamicQuantizeReport).opsetUpgrade).toEqual({ from: 9, to: 11, rewritten: [{ opType: 'Clip', count: 1, change: 'min/max attributes -> inputs' }] });
    expect(report.warnings[0]).toMatch(/^OPSET RAISED: ai.onnx opset 9 -> 11 \(DynamicQuantizeLinear needs opset 11.*1 Clip \(min\/max attributes -> inputs\)/);
    expect(ops(q)).toEqual(['Constant', 'Constant', 'Clip', 'DynamicQuantizeLinear', 'MatMulInteger', 'Cast', 'Mul', 'Mul']);
    const feeds = { x: { dims: [1, 32], data: randomWeights(32, 8) } };
    const [a, b] = [await runOrt(m, feeds), await runOrt(q, feeds)];
    expect(maxAbsDiff(a.y!, b.y!) / maxAbs(a.y!)).toBeLessThan(0.03);
  });

  it('an opset-10 model is raised to 11 too (DynamicQuantizeLinear is opset 11) and loads in onnxruntime', async () => {
    const m = singleMatMul();
    m.opsetImport[0]!.version = 10n;
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic' });
    expect(Number(q.opsetImport[0]!.version)).toBe(11);
    expect((report as DynamicQuantizeReport).opsetUpgrade).toEqual({ from: 10, to: 11, rewritten: [] });
    const feeds = { x: { dims: [1, 32], data: randomWeights(32, 9) } };
    const [a, b] = [await runOrt(m, feeds), await runOrt(q, feeds)];
    expect(maxAbsDiff(a.y!, b.y!) / maxAbs(a.y!)).toBeLessThan(0.03);
  });

  it('a weight shared by two MatMuls is quantized once: both MatMulIntegers read the same codes, bytes counted once', async () => {
    const g = makeGraph({
      nodes: [makeNode('MatMul', ['x', 'W'], ['h'], { name: 'mm1' }), makeNode('Relu', ['h'], ['r'], { name: 'relu' }), makeNode('MatMul', ['r', 'W'], ['y'], { name: 'mm2' })],
      inputs: [makeValueInfo('x', 'float32', [1, 16])],
      outputs: [makeValueInfo('y', 'float32', [1, 16])],
      initializers: [makeTensor('W', 'float32', [16, 16], randomWeights(256, 41))],
    });
    const m = makeModel(g, { '': 17 });
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic', perChannel: true });
    const integer = q.graph!.node.filter((n) => n.opType === 'MatMulInteger');
    expect(integer).toHaveLength(2);
    expect(integer[0]!.input[1]).toBe(integer[1]!.input[1]);
    expect(integer[0]!.input[3]).toBe(integer[1]!.input[3]);
    expect(q.graph!.initializer.map((t) => t.name).sort()).toEqual(['W_quantized', 'W_scale', 'W_zero_point']);
    expect(report.weightBytesBefore).toBe(256 * 4);
    expect(report.weightBytesAfter).toBe(256 + 16 + 16 * 4);
    const feeds = { x: { dims: [1, 16], data: randomWeights(16, 10) } };
    const [a, b] = [await runOrt(m, feeds), await runOrt(q, feeds)];
    expect(maxAbsDiff(a.y!, b.y!) / maxAbs(a.y!)).toBeLessThan(0.05);
  });
});
