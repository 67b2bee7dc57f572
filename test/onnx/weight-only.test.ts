import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelProto, NodeProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { intAttribute } from '../../src/formats/onnx/attributes.js';
import { decodeModel, encodeModel } from '../../src/formats/onnx/model.js';
import { makeTensor, readFloat32, readTensor } from '../../src/formats/onnx/tensor.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { Registry } from '../../src/core/registry.js';
import { weightOnlyMode } from '../../src/onnx/modes/weight-only/weight-only.js';
import { convModel, mlpModel, randomWeights } from './models.js';
import { runOrt } from './run-ort.js';
import { dequantize2d, init, maxAbs, maxAbsDiff, nodeOf } from './weight-helpers.js';

const x64 = { x: { dims: [1, 64], data: randomWeights(64, 9) } };

describe('weight-only int8/uint8', () => {
  it('quantizes MatMul and Gemm (transB) weights per channel; onnxruntime output stays close', async () => {
    const m = mlpModel();
    const { model: q, report } = await quantizeModel(m, { perChannel: true, int8Form: 'dequantize-linear' });
    expect(report.nodes).toEqual([
      { node: 'mm', opType: 'MatMul', status: 'quantized', tensors: ['W1'], dtype: 'int8', granularity: 'per-channel', axis: 1, form: 'DequantizeLinear' },
      { node: 'gemm', opType: 'Gemm', status: 'quantized', tensors: ['W2'], dtype: 'int8', granularity: 'per-channel', axis: 0, form: 'DequantizeLinear' },
    ]);
    // The float weights are gone, the biases stay float, and the DequantizeLinear outputs take the weights' names.
    expect(q.graph!.initializer.map((t) => t.name).sort()).toEqual(['W1_quantized', 'W1_scale', 'W1_zero_point', 'W2_quantized', 'W2_scale', 'W2_zero_point', 'b1', 'c2']);
    expect(nodeOf(q, 'DequantizeLinear').map((n) => n.output[0])).toEqual(['W1', 'W2']);
    expect(report.weightBytesBefore).toBe((64 * 48 + 16 * 48) * 4);
    expect(report.weightBytesAfter).toBe(64 * 48 + 48 * 5 + 16 * 48 + 16 * 5);
    // The caller's model is untouched.
    expect(m.graph!.initializer.map((t) => t.name)).toEqual(['W1', 'b1', 'W2', 'c2']);

    const W1 = readFloat32(init(m, 'W1'));
    const dq = nodeOf(q, 'DequantizeLinear')[0]!;
    const scales = readFloat32(init(q, dq.input[1]!));
    const back = dequantize2d(q, dq, [64, 48]);
    for (let i = 0; i < W1.length; i++) expect(Math.abs(back[i]! - W1[i]!)).toBeLessThanOrEqual(scales[i % 48]! / 2 + 1e-7);

    const ref = (await runOrt(m, x64)).y!;
    const got = (await runOrt(decodeModel(encodeModel(q)), x64)).y!;
    expect(maxAbsDiff(ref, got)).toBeLessThan(0.01 * maxAbs(ref));
  });

  it('writes per-tensor uint8 asymmetric by default for uint8', async () => {
    const { model: q, report } = await quantizeModel(mlpModel(), { dtype: 'uint8', int8Form: 'dequantize-linear' });
    expect(report.nodes.every((n) => n.status === 'quantized' && n.granularity === 'per-tensor')).toBe(true);
    const zp = readTensor(init(q, 'W1_zero_point'));
    expect(zp.dtype).toBe('uint8');
    expect(zp.dims).toEqual([]);
    expect(intAttribute(nodeOf(q, 'DequantizeLinear')[0]!, 'axis')).toBeUndefined();
  });

  it('quantizes Conv weights per output channel', async () => {
    const m = convModel();
    const { model: q, report } = await quantizeModel(m, { perChannel: true, int8Form: 'dequantize-linear' });
    expect(report.nodes[0]).toMatchObject({ status: 'quantized', granularity: 'per-channel', axis: 0 });
    expect(readTensor(init(q, 'W_scale')).dims).toEqual([4]);
    const x = { x: { dims: [1, 3, 8, 8], data: randomWeights(192, 3) } };
    const ref = (await runOrt(m, x)).y!;
    expect(maxAbsDiff(ref, (await runOrt(q, x)).y!)).toBeLessThan(0.01 * maxAbs(ref));
  });

  it('uses com.microsoft.DequantizeLinear for models older than opset 13 instead of raising their opset', async () => {
    const m = mlpModel(64, 48, 16, 9);
    const { model: q, report } = await quantizeModel(m, { perChannel: true, int8Form: 'dequantize-linear' });
    expect(report.nodes[0]).toMatchObject({ form: 'com.microsoft.DequantizeLinear' });
    expect(q.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 9], ['com.microsoft', 1]]);
    const ref = (await runOrt(m, x64)).y!;
    expect(maxAbsDiff(ref, (await runOrt(q, x64)).y!)).toBeLessThan(0.01 * maxAbs(ref));
  });
});

/** Independent MatMulNBits decoding (B [N, blocks, blob], scales [N·blocks], packed zero points or 8) back to W [K, N]. */
function decodeMatMulNBits(m: ModelProto, node: NodeProto): Float32Array {
  const K = intAttribute(node, 'K')!;
  const N = intAttribute(node, 'N')!;
  const bs = intAttribute(node, 'block_size')!;
  const blocks = Math.ceil(K / bs);
  const b = readTensor(init(m, node.input[1]!)).values as Uint8Array;
  const s = readFloat32(init(m, node.input[2]!));
  const zpBytes = node.input[3] ? (readTensor(init(m, node.input[3])).values as Uint8Array) : undefined;
  const w = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const blk = Math.floor(k / bs);
      const flat = n * blocks * bs + k;
      const code = (b[flat >> 1]! >> ((flat & 1) * 4)) & 15;
      const rowBytes = Math.ceil(blocks / 2);
      const zp = zpBytes ? (zpBytes[n * rowBytes + (blk >> 1)]! >> ((blk & 1) * 4)) & 15 : 8;
      w[k * N + n] = Math.fround((code - zp) * s[n * blocks + blk]!);
    }
  }
  return w;
}

describe('weight-only 4-bit', () => {
  it.each([
    ['int4', 64, 32],
    ['uint4', 60, 16],
  ] as const)('%s MatMul becomes MatMulNBits (K=%i, block %i) that onnxruntime runs as the decoded weights', async (dtype, k, blockSize) => {
    const m = mlpModel(k, 48, 16);
    const { model: q, report } = await quantizeModel(m, { dtype, blockSize });
    expect(report.nodes[0]).toMatchObject({ node: 'mm', status: 'quantized', form: 'com.microsoft.MatMulNBits', blockSize });
    expect(report.nodes[1]).toMatchObject({ node: 'gemm', status: 'float', reason: expect.stringMatching(/need blocked DequantizeLinear \(opset 21\), the model is opset 17/) });
    const nb = nodeOf(q, 'MatMulNBits')[0]!;
    expect(nb.domain).toBe('com.microsoft');
    expect(nb.output).toEqual(['h0']);
    const W1 = readFloat32(init(m, 'W1'));
    const decoded = decodeMatMulNBits(q, nb);
    const scales = readFloat32(init(q, nb.input[2]!));
    const blocks = Math.ceil(k / blockSize);
    for (let i = 0; i < W1.length; i++) {
      const kk = Math.floor(i / 48);
      const n = i % 48;
      expect(Math.abs(decoded[i]! - W1[i]!)).toBeLessThanOrEqual(scales[n * blocks + Math.floor(kk / blockSize)]! / 2 + 1e-6);
    }
    // onnxruntime computes with exactly the decoded weights: a float model holding them agrees to float rounding.
    const asFloat = mlpModel(k, 48, 16);
    const w1 = init(asFloat, 'W1');
    asFloat.graph!.initializer[asFloat.graph!.initializer.indexOf(w1)] = makeTensor('W1', 'float32', [k, 48], decoded);
    const x = { x: { dims: [1, k], data: randomWeights(k, 9) } };
    const want = (await runOrt(asFloat, x)).y!;
    expect(maxAbsDiff(want, (await runOrt(q, x)).y!)).toBeLessThan(1e-4 * Math.max(1, maxAbs(want)));
  });

  it('writes opset-21 blocked DequantizeLinear when asked, which onnxruntime runs (checked in a child process)', async () => {
    const m = mlpModel(64, 48, 16, 21);
    m.irVersion = 10n;
    const { model: q, report } = await quantizeModel(m, { dtype: 'int4', int4Form: 'dequantize-linear', blockSize: 16 });
    expect(report.nodes.map((n) => n.status === 'quantized' && [n.form, n.axis, n.blockSize])).toEqual([
      ['DequantizeLinear', 0, 16],
      ['DequantizeLinear', 1, 16],
    ]);
    const codes = readTensor(init(q, 'W1_quantized'));
    expect(codes.dtype).toBe('int4');
    expect(readTensor(init(q, 'W1_scale')).dims).toEqual([4, 48]);
    expect(readTensor(init(q, 'W2_scale')).dims).toEqual([16, 3]);
    const dir = mkdtempSync(join(tmpdir(), 'qk-int4-'));
    try {
      writeFileSync(join(dir, 'q.onnx'), encodeModel(q));
      writeFileSync(join(dir, 'f.onnx'), encodeModel(m));
      writeFileSync(join(dir, 'x.bin'), x64.x.data);
      const script = `
        const ort = require('onnxruntime-node'); const fs = require('fs');
        (async () => {
          const x = new Float32Array(Uint8Array.from(fs.readFileSync(process.argv[1] + '/x.bin')).buffer);
          const run = async (f) => { const s = await ort.InferenceSession.create(process.argv[1] + '/' + f); const o = await s.run({ x: new ort.Tensor('float32', x, [1, 64]) }); return Array.from(o.y.data); };
          process.stdout.write(JSON.stringify({ f: await run('f.onnx'), q: await run('q.onnx') }));
        })().catch((e) => { process.stderr.write(String(e)); process.exit(3); });`;
      const r = spawnSync(process.execPath, ['-e', script, dir], { encoding: 'utf8', cwd: process.cwd(), timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const { f, q: got } = JSON.parse(r.stdout) as { f: number[]; q: number[] };
      const err = Math.max(...f.map((v, i) => Math.abs(v - got[i]!)));
      expect(err).toBeLessThan(0.1 * Math.max(...f.map(Math.abs)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('weight sources and selection', () => {
  it('quantizes a Constant-node weight in place of the Constant node', async () => {
    const g = makeGraph({
      nodes: [makeNode('Constant', [], ['W'], { name: 'cw', attributes: { value: makeTensor('v', 'float32', [64, 8], randomWeights(512, 4)) } }), makeNode('MatMul', ['x', 'W'], ['y'], { name: 'mm' })],
      inputs: [makeValueInfo('x', 'float32', [1, 64])],
      outputs: [makeValueInfo('y', 'float32', [1, 8])],
    });
    const m = makeModel(g, { '': 17 });
    const { model: q, report } = await quantizeModel(m, { perChannel: true, int8Form: 'dequantize-linear' });
    expect(report.nodes[0]).toMatchObject({ status: 'quantized', tensors: ['W'] });
    expect(q.graph!.node.map((n) => n.opType)).toEqual(['DequantizeLinear', 'MatMul']);
    const ref = (await runOrt(m, x64)).y!;
    expect(maxAbsDiff(ref, (await runOrt(q, x64)).y!)).toBeLessThan(0.01 * maxAbs(ref));
  });

  it('quantizes a shared weight once, and keeps the float weight for a user left in float', async () => {
    const W = makeTensor('W', 'float32', [64, 64], randomWeights(4096, 8));
    const g = makeGraph({
      nodes: [makeNode('MatMul', ['x', 'W'], ['a'], { name: 'mm1' }), makeNode('MatMul', ['a', 'W'], ['b'], { name: 'mm2' }), makeNode('MatMul', ['b', 'W'], ['y'], { name: 'mm3' })],
      inputs: [makeValueInfo('x', 'float32', [1, 64])],
      outputs: [makeValueInfo('y', 'float32', [1, 64])],
      initializers: [W],
    });
    const m = makeModel(g, { '': 17 });
    const shared = await quantizeModel(m, { int8Form: 'dequantize-linear' });
    expect(nodeOf(shared.model, 'DequantizeLinear')).toHaveLength(1);
    expect(shared.model.graph!.initializer.map((t) => t.name)).toEqual(['W_quantized', 'W_scale', 'W_zero_point']);

    const partly = await quantizeModel(m, { exclude: ['mm2'], int8Form: 'dequantize-linear' });
    expect(partly.report.nodes.map((n) => n.status)).toEqual(['quantized', 'float', 'quantized']);
    expect(partly.report.nodes[1]).toMatchObject({ reason: 'excluded by name' });
    const names = partly.model.graph!.node.map((n) => [n.name, n.input[1]]);
    expect(names).toEqual([['W_DequantizeLinear', 'W_scale'], ['mm1', 'W_dequantized'], ['mm2', 'W'], ['mm3', 'W_dequantized']]);
    expect(partly.model.graph!.initializer.map((t) => t.name)).toContain('W');
    const ref = (await runOrt(m, x64)).y!;
    expect(maxAbsDiff(ref, (await runOrt(partly.model, x64)).y!)).toBeLessThan(0.02 * maxAbs(ref));
  });

  it('quantizes weights an If branch takes from the outer scope, and both branches still run', async () => {
    const W = makeTensor('W', 'float32', [64, 8], randomWeights(512, 11));
    const branch = (name: string, act: string) =>
      makeGraph({ name, nodes: [makeNode('MatMul', ['x', 'W'], [`${name}_t`], { name: `${name}_mm` }), makeNode(act, [`${name}_t`], [`${name}_o`])], inputs: [], outputs: [makeValueInfo(`${name}_o`, 'float32', [1, 8])] });
    const g = makeGraph({
      nodes: [makeNode('If', ['cond'], ['y'], { name: 'if', attributes: { then_branch: branch('then', 'Relu'), else_branch: branch('else', 'Neg') } })],
      inputs: [makeValueInfo('x', 'float32', [1, 64]), makeValueInfo('cond', 'bool', [])],
      outputs: [makeValueInfo('y', 'float32', [1, 8])],
      initializers: [W],
    });
    const m = makeModel(g, { '': 17 });
    const { model: q, report } = await quantizeModel(m, { perChannel: true, int8Form: 'dequantize-linear' });
    expect(report.nodes.map((n) => [n.node, n.status])).toEqual([['then_mm', 'quantized'], ['else_mm', 'quantized']]);
    expect(q.graph!.node.map((n) => n.opType)).toEqual(['DequantizeLinear', 'If']);
    const ort = await import('onnxruntime-node');
    for (const cond of [true, false]) {
      const run = async (model: ModelProto) => {
        const s = await ort.InferenceSession.create(encodeModel(model));
        const o = await s.run({ x: new ort.Tensor('float32', x64.x.data, [1, 64]), cond: new ort.Tensor('bool', [cond], []) });
        await s.release();
        return o.y!.data as Float32Array;
      };
      const ref = await run(m);
      expect(maxAbsDiff(ref, await run(q))).toBeLessThan(0.01 * Math.max(1, maxAbs(ref)));
    }
  });

  it('lists ops it cannot quantize with the reason, and honours opTypes', async () => {
    const g = makeGraph({
      nodes: [makeNode('MatMul', ['x', 'x2'], ['y0'], { name: 'act_mm' }), makeNode('Relu', ['y0'], ['y'], { name: 'relu' })],
      inputs: [makeValueInfo('x', 'float32', [1, 4]), makeValueInfo('x2', 'float32', [4, 4])],
      outputs: [makeValueInfo('y', 'float32', [1, 4])],
    });
    const { report } = await quantizeModel(makeModel(g, { '': 17 }), { opTypes: ['MatMul', 'Relu'] });
    expect(report.nodes).toEqual([
      { node: 'act_mm', opType: 'MatMul', status: 'float', reason: "input 'x2' is computed at run time, not a constant weight" },
      { node: 'relu', opType: 'Relu', status: 'float', reason: expect.stringMatching(/^Relu has no weight input quantkit knows/) },
    ]);
    // Nodes with weights whose op type was not chosen are listed too, never left out.
    const { report: onlyConv } = await quantizeModel(mlpModel(), { opTypes: ['Conv'] });
    expect(onlyConv.nodes).toEqual([
      { node: 'mm', opType: 'MatMul', status: 'float', reason: "op type MatMul was not chosen (op types: Conv); weights 'W1' stay float" },
      { node: 'gemm', opType: 'Gemm', status: 'float', reason: "op type Gemm was not chosen (op types: Conv); weights 'W2' stay float" },
    ]);
  });

  it('leaves a weight with NaN in float, saying so', async () => {
    const m = mlpModel();
    const w = randomWeights(64 * 48, 1);
    w[5] = NaN;
    m.graph!.initializer[0] = makeTensor('W1', 'float32', [64, 48], w);
    const { report } = await quantizeModel(m, {});
    expect(report.nodes[0]).toMatchObject({ status: 'float', reason: expect.stringMatching(/^weight 'W1': .*NaN/) });
    expect(report.nodes[1]).toMatchObject({ status: 'quantized' });
  });

  it('says clearly when a mode is not registered, and rejects bad options and opsets', async () => {
    const onlyWeights = new Registry<string, typeof weightOnlyMode>('quantization mode').register('weight-only', weightOnlyMode);
    await expect(quantizeModel(mlpModel(), { mode: 'static' }, {}, onlyWeights)).rejects.toThrow(/^unknown quantization mode 'static': expected one of weight-only$/);
    await expect(quantizeModel(mlpModel(), { dtype: 'int5' as never })).rejects.toThrow(/dtype: expected dtype/);
    await expect(quantizeModel(mlpModel(64, 48, 16, 40), {})).rejects.toThrow(/opset 40/);
  });

  it('reports progress over the weight elements', async () => {
    const events: number[] = [];
    await quantizeModel(mlpModel(), {}, { onProgress: (e) => events.push(e.done / e.total) });
    expect(events.at(-1)).toBe(1);
    expect(events.length).toBe(2);
  });

  it('reports progress for weights stored in float_data (no raw_data bytes) too', async () => {
    const m = mlpModel();
    for (const t of m.graph!.initializer) {
      t.floatData = Array.from(readFloat32(t));
      t.rawData = new Uint8Array(0);
    }
    const events: { done: number; total: number }[] = [];
    await quantizeModel(m, {}, { onProgress: (e) => events.push({ done: e.done, total: e.total }) });
    expect(events).toEqual([
      { done: 64 * 48, total: 64 * 48 + 16 * 48 },
      { done: 64 * 48 + 16 * 48, total: 64 * 48 + 16 * 48 },
    ]);
  });
});
