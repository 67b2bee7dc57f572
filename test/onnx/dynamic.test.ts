import fc from 'fast-check';
import type { ModelProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { computeQParams, quantize } from '../../src/core/quantize.js';
import { roundHalfEven } from '../../src/core/round.js';
import { intAttribute } from '../../src/formats/onnx/attributes.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { makeTensor, readFloat32, readTensor, tensorDims } from '../../src/formats/onnx/tensor.js';
import type { DynamicQuantizeReport } from '../../src/onnx/modes/dynamic.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { mlpModel, randomWeights } from './models.js';
import { convReluModel, ifModel, maxAbs, maxAbsDiff } from './quantized-models.js';
import { runOrt } from './run-ort.js';
import { avx2PairSaturated, dynamicQuantizeLinear, maxPairSum } from './integer-reference.js';
import { evaluateReference, ortAndReference, refFloat, ROUNDING } from './reference-graph.js';

function init(m: ModelProto, name: string) {
  const t = m.graph!.initializer.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  return t;
}
const ops = (m: ModelProto) => m.graph!.node.map((n) => n.opType);

/**
 * onnxruntime gives the exact integer reference of the quantized graph (so the test holds on every
 * CPU whose kernels are exact, and fails where one saturates), and that reference is within
 * `bound` (relative to the float output's magnitude) of the float model.
 */
async function expectExactAndClose(m: ModelProto, q: ModelProto, feeds: Record<string, { dims: number[]; data: Float32Array }>, bound: number, out = 'y') {
  const { ref, relError } = await ortAndReference(q, feeds, runOrt);
  expect(relError).toBeLessThan(ROUNDING);
  const a = await runOrt(m, feeds);
  expect(maxAbsDiff(a[out]!, ref[out]!) / maxAbs(a[out]!)).toBeLessThan(bound);
}

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
  it('MatMul becomes DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scales) → Mul; int8 asked for under target portable is 7-bit, exact, within the rounding bound', async () => {
    const m = singleMatMul();
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic', dtype: 'int8', perChannel: true });
    expect(ops(q)).toEqual(['DynamicQuantizeLinear', 'MatMulInteger', 'Cast', 'Mul', 'Mul']);
    expect(report.nodes).toEqual([{ node: 'mm', opType: 'MatMul', status: 'quantized', tensors: ['W', 'x'], dtype: 'int8', granularity: 'per-channel', axis: 1, form: 'MatMulInteger' }]);
    expect(report.integer).toMatchObject({ target: 'portable', activations: 'uint8', weights: 'int8', reduceRange: true, kernel: 'U8S8' });
    const [dql, mmi, cast, mulScales, mulOut] = q.graph!.node;
    expect(mmi!.input).toEqual([dql!.output[0], mmi!.input[1], dql!.output[2], mmi!.input[3]]);
    expect(intAttribute(cast!, 'to')).toBe(1);
    expect(mulScales!.input[0]).toBe(dql!.output[1]);
    expect(mulOut!.output).toEqual(['y']);
    expect(q.graph!.initializer.some((t) => t.name === 'W')).toBe(false);
    // ONNX Runtime's reduce_range int8: per column scale = max|w| / 64, codes round(w / scale) within [-64, 64].
    const w = readFloat32(init(m, 'W'));
    const scale = readFloat32(init(q, mmi!.input[1]!.replace('_quantized', '_scale')));
    const codes = readTensor(init(q, mmi!.input[1]!)).values as Int8Array;
    for (let c = 0; c < 16; c++) {
      let absmax = 0;
      for (let k = 0; k < 32; k++) absmax = Math.max(absmax, Math.abs(w[k * 16 + c]!));
      expect(scale[c]).toBe(Math.fround(absmax / 64));
    }
    expect(Math.max(...Array.from(codes, Math.abs))).toBe(64);
    expect(Array.from(codes)).toEqual(Array.from(w, (v, i) => Math.max(-64, Math.min(64, roundHalfEven(Math.fround(v / scale[i % 16]!)))) + 0));
    expect(Array.from(readTensor(init(q, mmi!.input[3]!)).values as Int8Array)).toEqual(new Array(16).fill(0));

    const x = randomWeights(32, 77);
    const feeds = { x: { dims: [1, 32], data: x } };
    const { ref, relError } = await ortAndReference(q, feeds, runOrt);
    expect(relError).toBeLessThan(ROUNDING);
    const a = await runOrt(m, feeds);
    // |x̂ŵ − xw| ≤ Σ_k |x_k|·sW/2 + (|w_k| + sW/2)·sA/2 with sA the DynamicQuantizeLinear step of x.
    const sA = (Math.max(0, ...x) - Math.min(0, ...x)) / 255;
    for (let c = 0; c < 16; c++) {
      let bound = 0;
      for (let k = 0; k < 32; k++) bound += (Math.abs(x[k]!) * scale[c]!) / 2 + ((Math.abs(w[k * 16 + c]!) + scale[c]! / 2) * sA) / 2;
      expect(Math.abs(a.y![c]! - ref.y![c]!)).toBeLessThanOrEqual(bound * 1.0001 + 1e-6);
      expect(bound).toBeLessThan(0.3);
    }
  });

  it('target x86-vnni writes full-range int8 weights (onnxruntime quantize_dynamic’s own), and says they are wrong without VNNI', async () => {
    const m = singleMatMul();
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic', target: 'x86-vnni' });
    expect(report.integer).toMatchObject({ target: 'x86-vnni', weights: 'int8', reduceRange: false, kernel: 'U8S8', reason: expect.stringMatching(/WRONG on x86 CPUs without VNNI/) });
    const mmi = q.graph!.node[1]!;
    const w = readFloat32(init(m, 'W'));
    const p = computeQParams(w, [32, 16], { dtype: 'int8', symmetric: true, narrow: true, granularity: { kind: 'per-axis', axis: 1 } });
    expect(Array.from(readFloat32(init(q, mmi.input[1]!.replace('_quantized', '_scale'))))).toEqual(Array.from(p.scale));
    expect(Array.from(readTensor(init(q, mmi.input[1]!)).values as Int8Array)).toEqual(Array.from(quantize(w, [32, 16], { params: p }).codes));
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
    await expectExactAndClose(m, q, { x: { dims: [1, 64], data: randomWeights(64, 9) } }, 0.03);
  });

  it('leaves Conv float by default, saying why; asked for by op type, Conv becomes ConvInteger', async () => {
    const m = convReluModel();
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic' });
    expect(ops(q)).toEqual(['Conv', 'Relu']);
    expect(report.nodes).toEqual([expect.objectContaining({ node: 'conv', status: 'float', reason: expect.stringMatching(/^dynamic mode leaves Conv float by default: onnxruntime runs ConvInteger unfused.*--op-types MatMul,Gemm,Conv quantizes it/) })]);
    // The mode's reason is for its default only: a caller's own op types get the plain one.
    const own = await quantizeModel(m, { mode: 'dynamic', opTypes: ['MatMul'] });
    expect(own.report.nodes[0]).toMatchObject({ status: 'float', reason: expect.stringMatching(/^op type Conv was not chosen \(op types: MatMul\)/) });
    const asked = await quantizeModel(m, { mode: 'dynamic', opTypes: ['Conv'] });
    expect(asked.report.nodes[0]).toMatchObject({ status: 'quantized', form: 'ConvInteger' });
  });

  it('Conv + Relu: ConvInteger with per-channel scales after one shared zero point, the bias reshaped to [1, M, 1, 1]; Relu stays float and is listed', async () => {
    const m = convReluModel();
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic', opTypes: ['Conv', 'Relu'] });
    expect(ops(q)).toEqual(['DynamicQuantizeLinear', 'ConvInteger', 'Cast', 'Mul', 'Mul', 'Add', 'Relu']);
    expect(report.nodes[0]).toMatchObject({ node: 'conv', status: 'quantized', granularity: 'per-channel', axis: 0, form: 'ConvInteger' });
    expect(report.nodes[1]).toMatchObject({ node: 'relu', status: 'float' });
    expect(report.warnings).toEqual([]);
    const conv = q.graph!.node[1]!;
    // Symmetric uint8 weights: the zero point is 128 in every channel, written once.
    expect(readTensor(init(q, conv.input[3]!))).toMatchObject({ dtype: 'uint8', dims: [] });
    expect(Array.from(readTensor(init(q, conv.input[3]!)).values as Uint8Array)).toEqual([128]);
    expect(tensorDims(init(q, q.graph!.node[3]!.input[1]!))).toEqual([1, 4, 1, 1]);
    const add = q.graph!.node[5]!;
    expect(tensorDims(init(q, add.input[1]!))).toEqual([1, 4, 1, 1]);
    expect(q.graph!.initializer.some((t) => t.name === 'B' || t.name === 'W')).toBe(false);
    await expectExactAndClose(m, q, { x: { dims: [1, 3, 8, 8], data: randomWeights(192, 3) } }, 0.03);
    // Asymmetric weights cannot share one zero point: per tensor, said.
    const asym = await quantizeModel(m, { mode: 'dynamic', opTypes: ['Conv', 'Relu'], symmetric: false });
    expect(asym.report.nodes[0]).toMatchObject({ granularity: 'per-tensor' });
    expect(asym.report.warnings.join()).toMatch(/ConvInteger takes one weight zero point/);
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
      const ref = refFloat(evaluateReference(q, { x, cond: { type: 'bool', dims: [], data: Float64Array.of(cond) } }).y!);
      expect(maxAbsDiff(outs[1]!, ref) / maxAbs(ref)).toBeLessThan(ROUNDING);
      expect(maxAbsDiff(outs[0]!, ref) / maxAbs(outs[0]!)).toBeLessThan(0.03);
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
    await expectExactAndClose(m, q, { x: { dims: [1, 32], data: randomWeights(32, 8) } }, 0.03);
  });

  it('an opset-10 model is raised to 11 too (DynamicQuantizeLinear is opset 11) and loads in onnxruntime', async () => {
    const m = singleMatMul();
    m.opsetImport[0]!.version = 10n;
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic' });
    expect(Number(q.opsetImport[0]!.version)).toBe(11);
    expect((report as DynamicQuantizeReport).opsetUpgrade).toEqual({ from: 10, to: 11, rewritten: [] });
    await expectExactAndClose(m, q, { x: { dims: [1, 32], data: randomWeights(32, 9) } }, 0.03);
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
    await expectExactAndClose(m, q, { x: { dims: [1, 16], data: randomWeights(16, 10) } }, 0.05);
  });
});

describe('integer models that are right on every CPU (target portable)', () => {
  /** x [4, 64] in the upper half of its range times W [64, 16] of large weights, one sign per column: where uint8 x int8 pairs overflow int16. */
  function saturatingModel() {
    const w = randomWeights(64 * 16, 91).map((v, i) => Math.fround((0.7 + 0.3 * Math.abs(v)) * (i % 2 ? -1 : 1)));
    const g = makeGraph({
      nodes: [makeNode('MatMul', ['x', 'W'], ['y'], { name: 'mm' })],
      inputs: [makeValueInfo('x', 'float32', [4, 64])],
      outputs: [makeValueInfo('y', 'float32', [4, 16])],
      initializers: [makeTensor('W', 'float32', [64, 16], w)],
    });
    return makeModel(g, { '': 17 });
  }
  const upper = randomWeights(4 * 64, 92).map((v) => Math.fround(0.75 + 0.25 * v));
  const feeds = { x: { dims: [4, 64], data: upper } };
  const rel = (a: Float32Array, b: Float32Array) => maxAbsDiff(a, b) / maxAbs(b);
  const weightCodes = (q: ModelProto) => Array.from(readTensor(init(q, q.graph!.node.find((n) => n.opType === 'MatMulInteger')!.input[1]!)).values as Int8Array);

  it('full-range int8 (x86-vnni) would be wrong on x86 without VNNI; the portable model agrees with float, and its sums cannot saturate there', async () => {
    const m = saturatingModel();
    const float = (await runOrt(m, feeds)).y!;
    const xq = dynamicQuantizeLinear({ type: 'float32', dims: [4, 64], data: Float64Array.from(upper) })[0].data;
    expect(Math.min(...xq)).toBeGreaterThanOrEqual(127);

    // x86-vnni: the exact sums are right, but a pairwise int16 kernel (vpmaddubsw) clips them.
    const vnni = (await quantizeModel(m, { mode: 'dynamic', target: 'x86-vnni' })).model;
    expect(maxPairSum(xq, 4, 64, weightCodes(vnni), 16)).toBeGreaterThan(32767);
    expect(rel(refFloat(evaluateReference(vnni, feeds).y!), float)).toBeLessThan(0.02);
    expect(rel(refFloat(evaluateReference(vnni, feeds, { accumulate: avx2PairSaturated }).y!), float)).toBeGreaterThan(0.2);

    // portable (default): uint8 weights, U8U8, which onnxruntime sums in 16-bit lanes into int32 on every CPU.
    const portable = await quantizeModel(m, { mode: 'dynamic' });
    expect(portable.report.integer).toMatchObject({ target: 'portable', activations: 'uint8', weights: 'uint8', kernel: 'U8U8' });
    expect(readTensor(init(portable.model, portable.model.graph!.node[1]!.input[1]!)).dtype).toBe('uint8');
    const p = await ortAndReference(portable.model, feeds, runOrt);
    expect(p.relError).toBeLessThan(ROUNDING);
    expect(rel(p.ref.y!, float)).toBeLessThan(0.02);
    expect(rel(p.ort.y!, float)).toBeLessThan(0.02);

    // portable with int8 asked for: 7-bit weights, every pair within int16, so the int16 kernel's sums are the exact ones.
    const r7 = await quantizeModel(m, { mode: 'dynamic', dtype: 'int8' });
    expect(r7.report.integer).toMatchObject({ weights: 'int8', reduceRange: true, kernel: 'U8S8' });
    expect(maxPairSum(xq, 4, 64, weightCodes(r7.model), 16)).toBeLessThanOrEqual(32767);
    const exact = refFloat(evaluateReference(r7.model, feeds).y!);
    expect(refFloat(evaluateReference(r7.model, feeds, { accumulate: avx2PairSaturated }).y!)).toEqual(exact);
    const r = await ortAndReference(r7.model, feeds, runOrt);
    expect(r.relError).toBeLessThan(ROUNDING);
    expect(rel(exact, float)).toBeLessThan(0.03);
  });

  it('static QOperator: QLinearMatMul uint8 x int8 would clip without VNNI; the portable one (U8U8) agrees with float', async () => {
    const m = saturatingModel();
    const float = (await runOrt(m, feeds)).y!;
    const { createOrtRunner } = await import('../../src/node/onnx/ort-runner.js');
    const hooks = { runModel: createOrtRunner(), calibrationData: () => [{ x: { name: 'x', dtype: 'float32' as const, dims: [4, 64], values: upper } }] };
    const vnni = (await quantizeModel(m, { mode: 'static', format: 'qoperator', perChannel: false, target: 'x86-vnni' }, hooks)).model;
    expect(ops(vnni)).toContain('QLinearMatMul');
    expect(rel(refFloat(evaluateReference(vnni, feeds).y!), float)).toBeLessThan(0.03);
    expect(rel(refFloat(evaluateReference(vnni, feeds, { accumulate: avx2PairSaturated }).y!), float)).toBeGreaterThan(0.2);
    const portable = await quantizeModel(m, { mode: 'static', format: 'qoperator', perChannel: false }, hooks);
    expect(ops(portable.model)).toContain('QLinearMatMul');
    expect(portable.report.integer).toMatchObject({ kernel: 'U8U8' });
    const p = await ortAndReference(portable.model, feeds, runOrt);
    expect(p.relError).toBeLessThan(ROUNDING);
    expect(rel(p.ort.y!, float)).toBeLessThan(0.03);
  });

  it('on random shapes and data, onnxruntime gives the exact integer reference for portable models, U8U8 and 7-bit (seeded property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.constantFrom(undefined, 'int8' as const),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        async (m, k, n, seed, dtype, scale) => {
          const w = randomWeights(k * n, seed).map((v) => Math.fround(v * scale));
          const g = makeGraph({
            nodes: [makeNode('MatMul', ['x', 'W'], ['y'], { name: 'mm' })],
            inputs: [makeValueInfo('x', 'float32', [m, k])],
            outputs: [makeValueInfo('y', 'float32', [m, n])],
            initializers: [makeTensor('W', 'float32', [k, n], w)],
          });
          const { model: q } = await quantizeModel(makeModel(g, { '': 17 }), { mode: 'dynamic', ...(dtype && { dtype }) });
          const x = randomWeights(m * k, seed + 1).map((v) => Math.fround(v * 3 + 1));
          const { relError } = await ortAndReference(q, { x: { dims: [m, k], data: x } }, runOrt);
          expect(relError).toBeLessThan(ROUNDING);
        },
      ),
      { seed: 7071, numRuns: 15 },
    );
  });

  it('int8 weights with reduceRange false cannot be portable: refused with the reason', async () => {
    await expect(quantizeModel(saturatingModel(), { mode: 'dynamic', dtype: 'int8', reduceRange: false })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringMatching(/target portable with int8 weights needs reduceRange.*255 \* 127 \* 2 > 32767/),
    });
    await expect(quantizeModel(saturatingModel(), { mode: 'dynamic', target: 'arm' as never })).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/target: expected target portable \| x86-vnni \| arm64/) });
  });
});

