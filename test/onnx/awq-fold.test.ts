// AWQ's 1/s folded into the ops producing a layer's input, end to end through quantizeModel and
// onnxruntime: no Mul where it folds, the same codes and the same output error as the Mul form,
// one scale shared (and searched jointly) by the layers of one input, and the Mul kept, with its
// reason, where folding would not be exact.
import type { ModelProto, NodeProto } from 'onnx-buf';
import { describe, expect, it, vi } from 'vitest';
import { awqScales } from '../../src/core/lowbit/awq-scales.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { decodeModel, encodeModel } from '../../src/formats/onnx/model.js';
import { makeTensor, readFloat32, readTensor } from '../../src/formats/onnx/tensor.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { relRms as relRmsOf } from './run-ort.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import type { QuantizeOptionsInput } from '../../src/onnx/quantize-options.js';
import type { NodeReport } from '../../src/onnx/quantize-report.js';
import type { TensorMap } from '../../src/onnx/run-model.js';
import { randomWeights } from './models.js';
import { init, nodeOf } from './weight-helpers.js';

vi.setConfig({ testTimeout: 60_000 });

const ortRun = createOrtRunner();

/** Inputs whose channels differ in scale by two orders of magnitude (outlier channels, as real activations have). */
function skewed(rows: number, k: number, seed: number): Float32Array {
  const x = randomWeights(rows * k, seed);
  for (let r = 0; r < rows; r++) for (let c = 0; c < k; c++) x[r * k + c]! *= c % 16 === 3 ? 20 : c % 5 === 0 ? 0.2 : 1;
  return x;
}

const f32 = (name: string, dims: number[], seed: number, scale = 1) => makeTensor(name, 'float32', dims, randomWeights(dims.reduce((a, d) => a * d, 1), seed).map((v) => v * scale));
const batch = (dims: number[], values: Float32Array): TensorMap => ({ x: { name: 'x', dtype: 'float32', dims, values } });

async function run(m: ModelProto, feeds: TensorMap, extra: string[] = []): Promise<TensorMap> {
  const c = decodeModel(encodeModel(m));
  for (const n of extra) c.graph!.output.push(makeValueInfo(n, 'float32'));
  let out: TensorMap = {};
  await ortRun(encodeModel(c), [feeds], (o) => {
    out = o;
  });
  return out;
}

/** √(Σ(q − f)²/Σf²) of output `y` (or another). */
async function relRms(q: ModelProto, f: ModelProto, feeds: TensorMap, y = 'y'): Promise<number> {
  return relRmsOf((await run(q, feeds))[y]!.values as Float32Array, (await run(f, feeds))[y]!.values as Float32Array);
}

function model(nodes: NodeProto[], inits: ReturnType<typeof f32>[], input: number[], outputs: string[], opset = 21): ModelProto {
  const m = makeModel(makeGraph({ nodes, initializers: inits, inputs: [makeValueInfo('x', 'float32', input.map((d, i) => (i === 0 ? 'n' : d)))], outputs: outputs.map((o) => makeValueInfo(o, 'float32')) }), { '': opset });
  m.irVersion = 10n;
  return m;
}

/** The same model with `t` also a graph output: x's producers may not be rescaled, so AWQ writes its Mul. */
function withOutput(m: ModelProto, t: string): ModelProto {
  const c = decodeModel(encodeModel(m));
  c.graph!.output.push(makeValueInfo(t, 'float32'));
  return c;
}

const placement = (nodes: readonly NodeReport[], name: string) => (nodes.find((n) => n.node === name) as { inputScale?: unknown } | undefined)?.inputScale;

describe('awq folds 1/s into the producers of a layer input', () => {
  const k = 64;
  const cal = skewed(64, k, 1);
  const held = batch([128, k], skewed(128, k, 2));
  const hooks = { runModel: ortRun, calibrationData: () => [batch([32, k], cal.subarray(0, 32 * k)), batch([32, k], cal.subarray(32 * k))] };
  const q = (m: ModelProto, o: QuantizeOptionsInput = {}) => quantizeModel(m, { dtype: 'int3', blockSize: 32, method: 'awq', ...o }, hooks);

  it('LayerNormalization → MatMul: no Mul, the same codes and the same error as the Mul form', async () => {
    const m = model(
      [makeNode('Mul', ['x', 'k'], ['xs'], { name: 'pre' }), makeNode('LayerNormalization', ['xs', 'g', 'b'], ['h'], { name: 'ln' }), makeNode('MatMul', ['h', 'W'], ['y'], { name: 'mm' })],
      // A skewed gamma gives the normalized activation outlier channels, which AWQ protects.
      [f32('k', [k], 3), makeTensor('g', 'float32', [k], Float32Array.from({ length: k }, (_, c) => (c % 16 === 3 ? 8 : 0.5 + (c % 7) / 7))), f32('b', [k], 4, 0.1), f32('W', [k, 32], 5)],
      [1, k],
      ['y'],
    );
    const folded = await q(m);
    const mul = await q(withOutput(m, 'h'));
    expect(placement(folded.report.nodes, 'mm')).toEqual({ applied: 'folded', into: ['ln'], reason: "'h' feeds only this layer and its producers scale exactly" });
    expect(placement(mul.report.nodes, 'mm')).toEqual({ applied: 'Mul', reason: "'h' is a graph output" });
    expect(nodeOf(folded.model, 'Mul').map((n) => n.name)).toEqual(['pre']);
    expect(nodeOf(mul.model, 'Mul')).toHaveLength(2);
    // The scales were not all 1, and the gamma and beta the float graph keeps absorbed them.
    const inv = readFloat32(init(mul.model, nodeOf(mul.model, 'Mul').find((n) => n.name !== 'pre')!.input[1]!));
    expect(Math.max(...inv) / Math.min(...inv)).toBeGreaterThan(2);
    const g = readFloat32(init(m, 'g'));
    const g2 = readFloat32(init(folded.model, 'g'));
    for (let c = 0; c < k; c++) expect(g2[c]!).toBeCloseTo(g[c]! * inv[c]!, 5);
    // One s: the same MatMulNBits codes and block scales in both forms.
    const nb = (r: ModelProto) => nodeOf(r, 'MatMulNBits')[0]!;
    expect(readTensor(init(folded.model, nb(folded.model).input[1]!)).values).toEqual(readTensor(init(mul.model, nb(mul.model).input[1]!)).values);
    expect(readFloat32(init(folded.model, nb(folded.model).input[2]!))).toEqual(readFloat32(init(mul.model, nb(mul.model).input[2]!)));
    const a = await relRms(folded.model, m, held);
    const b = await relRms(mul.model, m, held);
    expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-5 * b);
    expect(a).toBeGreaterThan(1e-3);
  });

  it('Conv → Relu → Conv: no Mul and the Mul form’s error, whether the first Conv stays float or is quantized (after the fold, searched on its weight before it)', async () => {
    const c = 16;
    const m = model(
      [
        makeNode('Conv', ['x', 'W1', 'B1'], ['c1'], { name: 'conv1', attributes: { kernel_shape: [1, 1] } }),
        makeNode('Relu', ['c1'], ['r'], { name: 'relu' }),
        makeNode('Conv', ['r', 'W2', 'B2'], ['y'], { name: 'conv2', attributes: { kernel_shape: [3, 3] } }),
      ],
      [makeTensor('W1', 'float32', [64, c, 1, 1], randomWeights(64 * c, 6).map((v, i) => v * (Math.floor(i / c) % 16 === 3 ? 20 : 1))), f32('B1', [64], 7), f32('W2', [8, 64, 3, 3], 8), f32('B2', [8], 9)],
      [2, c, 5, 5],
      ['y'],
    );
    const cx = (n: number, seed: number) => batch([n, c, 5, 5], randomWeights(n * c * 25, seed));
    const convHooks = { runModel: ortRun, calibrationData: () => [cx(2, 10), cx(2, 11)] };
    const qc = (mm: ModelProto, exclude: string[]) => quantizeModel(mm, { dtype: 'int3', blockSize: 32, method: 'awq', exclude }, convHooks);
    const test = cx(4, 12);
    const folded = await qc(m, ['conv1']);
    const mul = await qc(withOutput(m, 'r'), ['conv1']);
    expect(placement(folded.report.nodes, 'conv2')).toEqual({ applied: 'folded', into: ['conv1'], reason: "'r' feeds only this layer and its producers scale exactly (through relu (Relu))" });
    expect(nodeOf(folded.model, 'Mul')).toHaveLength(0);
    expect(nodeOf(mul.model, 'Mul')).toHaveLength(1);
    const a = await relRms(folded.model, m, test);
    const b = await relRms(mul.model, m, test);
    expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-5 * b);
    // conv1 quantized in the same run: from the folded W1 (quantized before the fold, 1/s would be lost and the error of order 1), its s searched on W1 as it was (on W1/s' its rows would be weighed wrongly).
    const both = await qc(m, []);
    const bothMul = await qc(withOutput(m, 'r'), []);
    expect(placement(both.report.nodes, 'conv2')).toMatchObject({ applied: 'folded', into: ['conv1'] });
    // conv1's 16 input channels are fewer than a block: it is quantized per output channel, by search, with no scales (and no Mul) of its own.
    expect(placement(both.report.nodes, 'conv1')).toEqual({ applied: 'none', reason: 'quantized per output channel (few input channels per group): its codes are chosen by search and its own scales are all 1' });
    expect(nodeOf(both.model, 'Mul')).toHaveLength(0);
    const bothErr = await relRms(both.model, m, test);
    const bothMulErr = await relRms(bothMul.model, m, test);
    expect(Math.abs(bothErr - bothMulErr)).toBeLessThanOrEqual(1e-4 * bothMulErr);
  });

  it('a depthwise Conv reading x beside a pointwise Conv takes its s (weights multiplied before its per-channel codes, no Mul) instead of making the fold wrong', async () => {
    const c = 32;
    const m = model(
      [
        makeNode('Conv', ['x', 'W0'], ['h'], { name: 'conv0', attributes: { kernel_shape: [1, 1] } }),
        makeNode('Conv', ['h', 'Wd'], ['y'], { name: 'dw', attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: c } }),
        makeNode('Conv', ['h', 'Wp'], ['z'], { name: 'pw', attributes: { kernel_shape: [1, 1] } }),
      ],
      [makeTensor('W0', 'float32', [c, 8, 1, 1], randomWeights(c * 8, 17).map((v, i) => v * (Math.floor(i / 8) % 16 === 3 ? 20 : 1))), f32('Wd', [c, 1, 3, 3], 18), f32('Wp', [8, c, 1, 1], 19)],
      [2, 8, 4, 4],
      ['y', 'z'],
    );
    const cx = (n: number, seed: number) => batch([n, 8, 4, 4], randomWeights(n * 8 * 16, seed));
    const dwHooks = { runModel: ortRun, calibrationData: () => [cx(2, 20), cx(2, 21)] };
    const qd = (mm: ModelProto) => quantizeModel(mm, { dtype: 'int3', blockSize: 32, method: 'awq', exclude: ['conv0'] }, dwHooks);
    const folded = await qd(m);
    const mul = await qd(withOutput(m, 'h'));
    expect(placement(folded.report.nodes, 'pw')).toMatchObject({ applied: 'folded', into: ['conv0'], sharedWith: ['dw'] });
    expect(placement(folded.report.nodes, 'dw')).toMatchObject({ applied: 'folded', into: ['conv0'], sharedWith: ['pw'] });
    expect(placement(mul.report.nodes, 'dw')).toEqual({ applied: 'none', reason: 'one input channel per group: its own scales are all 1' });
    expect(placement(mul.report.nodes, 'pw')).toEqual({ applied: 'Mul', reason: "'h' is a graph output" });
    expect(nodeOf(folded.model, 'Mul')).toHaveLength(0);
    const test = cx(3, 22);
    // A depthwise filter's per-channel block holds one input channel, so W·s has W's codes and s times its scale: y has the same int3 error in both forms. A dw Conv left reading x/s would be off by s.
    const yFolded = await relRms(folded.model, m, test, 'y');
    const yMul = await relRms(mul.model, m, test, 'y');
    expect(yMul).toBeGreaterThan(1e-3);
    expect(Math.abs(yFolded - yMul)).toBeLessThanOrEqual(1e-5 * yMul);
    const a = await relRms(folded.model, m, test, 'z');
    const b = await relRms(mul.model, m, test, 'z');
    expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-5 * b);
  });

  it('a MatMul feeding two MatMuls: both share one s, searched on their stacked weights, folded into the producer columns', async () => {
    const m = model(
      [makeNode('MatMul', ['x', 'W0'], ['h'], { name: 'mm0' }), makeNode('MatMul', ['h', 'Wa'], ['ya'], { name: 'mma' }), makeNode('MatMul', ['h', 'Wb'], ['yb'], { name: 'mmb' }), makeNode('Add', ['ya', 'yb'], ['y'], { name: 'sum' })],
      [makeTensor('W0', 'float32', [k, k], Float32Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? 1 : 0))), makeTensor('Wa', 'float32', [k, 32], randomWeights(k * 32, 13).map((v, i) => (Math.floor(i / 32) % 16 === 3 ? 10 * v : v))), f32('Wb', [k, 32], 14)],
      [1, k],
      ['y'],
    );
    const r = await q(m, { exclude: ['mm0'] });
    expect(placement(r.report.nodes, 'mma')).toEqual({ applied: 'folded', into: ['mm0'], sharedWith: ['mmb'], reason: "'h' feeds only these 2 layers (one scale searched over all of them) and its producers scale exactly" });
    expect(placement(r.report.nodes, 'mmb')).toMatchObject({ applied: 'folded', into: ['mm0'], sharedWith: ['mma'] });
    expect(nodeOf(r.model, 'Mul')).toHaveLength(0);
    // W0 is the identity: its folded diagonal is 1/s.
    const w0 = readFloat32(init(r.model, 'W0'));
    const s = Float32Array.from({ length: k }, (_, c) => 1 / w0[c * (k + 1)]!);
    // The reference: AWQ's search over the stacked [Wa; Wb] (rows = output columns), on every calibration row of h (= x).
    const rows = (w: Float32Array) => Float32Array.from({ length: 32 * k }, (_, i) => w[(i % k) * 32 + Math.floor(i / k)]!);
    const wa = rows(readFloat32(init(m, 'Wa')));
    const wb = rows(readFloat32(init(m, 'Wb')));
    const meanAbs = new Float32Array(k).map((_, c) => {
      let sum = 0;
      for (let t = 0; t < 64; t++) sum += Math.abs(cal[t * k + c]!);
      return sum / 64;
    });
    const lowbit = { bits: 3, blockSize: 32, symmetric: false, signed: true, inputs: cal };
    const joint = awqScales(Float32Array.from([...wa, ...wb]), [64, k], meanAbs, lowbit);
    for (let c = 0; c < k; c++) expect(s[c]!).toBeCloseTo(joint.scales[c]!, 5);
    // Searched alone each would pick another α (Wa's large outlier-channel weights want more protection): the shared s is the joint one.
    expect(awqScales(wa, [32, k], meanAbs, lowbit).alpha).not.toBe(joint.alpha);
    expect(awqScales(wb, [32, k], meanAbs, lowbit).alpha).not.toBe(joint.alpha);
  });

  it('a Sigmoid between producer and layer, or a producer output the graph also returns: a Mul, and the report says why', async () => {
    const m = model(
      [makeNode('MatMul', ['x', 'W0'], ['h0'], { name: 'mm0' }), makeNode('Sigmoid', ['h0'], ['h'], { name: 'sig' }), makeNode('MatMul', ['h', 'W'], ['y'], { name: 'mm' })],
      [f32('W0', [k, k], 15), f32('W', [k, 32], 16)],
      [1, k],
      ['y'],
    );
    const r = await q(m);
    expect(placement(r.report.nodes, 'mm')).toEqual({ applied: 'Mul', reason: 'sig (Sigmoid) does not commute with a per-channel scale (only Relu-like, pooling, affine and normalization ops do)' });
    expect(placement(r.report.nodes, 'mm0')).toEqual({ applied: 'Mul', reason: "'x' is a graph input" });
    expect(nodeOf(r.model, 'Mul')).toHaveLength(2);
  });
});
