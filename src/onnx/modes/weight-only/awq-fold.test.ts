import type { ModelProto, NodeProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../../core/random.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../../formats/onnx/builders.js';
import { decodeModel, encodeModel } from '../../../formats/onnx/model.js';
import { makeTensor, readFloat32, tensorDims } from '../../../formats/onnx/tensor.js';
import { indexGraph, NameGenerator } from '../../graph/graph.js';
import { applyEdits } from '../../graph/graph-edit.js';
import { scaleChannels } from '../../graph/scale-channels.js';
import type { TensorMap } from '../../run-model.js';
import { applyAwqFold, foldShapeNeeds, traceAwqFold } from './awq-fold.js';
import { outputsWith as outputs } from '../../../../test/onnx/run-ort.js';

const rnd = (n: number, seed: number, lo = -1, hi = 1): Float32Array => {
  const r = createRng(seed);
  return Float32Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * r()));
};
const f32 = (name: string, dims: number[], seed: number, lo = -1, hi = 1) => makeTensor(name, 'float32', dims, rnd(dims.reduce((a, d) => a * d, 1), seed, lo, hi));



/**
 * Folds random scales s ∈ [0.05, 20] into the producers of `x` (which must trace), multiplies the
 * consumers' weight input channels by s (what AWQ quantizes) and returns the original and folded
 * models' outputs: they must agree up to float32 rounding.
 */
async function foldRandom(m: ModelProto, x: string, axis: number, consumers: { node: string; weight: string; axis: number }[], feeds: TensorMap) {
  const before = await outputs(m, feeds);
  const folded = decodeModel(encodeModel(m));
  const root = indexGraph(folded.graph!);
  const probe = await outputs(m, feeds, foldShapeNeeds({ root, ir: 8 }, x));
  const shapes = new Map(Object.entries(probe).map(([k, v]) => [k, v.dims.map(Number)]));
  const rank = shapes.get(x)!.length;
  const channels = shapes.get(x)![axis < 0 ? axis + rank : axis]!;
  const nodes = consumers.map((c) => folded.graph!.node.find((n) => n.name === c.node)!);
  const trace = traceAwqFold({ root, ir: 8, shapes }, x, { axis: axis < 0 ? axis + rank : axis, rank, channels }, nodes);
  if (!trace.ok) throw new Error(trace.reason);
  const s = rnd(channels, 99, 0.05, 20);
  const { edits } = applyAwqFold({ root, ir: 8, shapes }, trace.path, s, new NameGenerator(root));
  for (const c of consumers) {
    const t = folded.graph!.initializer.find((i) => i.name === c.weight)!;
    const dims = tensorDims(t);
    const i = folded.graph!.initializer.indexOf(t);
    folded.graph!.initializer[i] = makeTensor(c.weight, 'float32', dims, scaleChannels(readFloat32(t), dims, dims, c.axis, s, 'multiply'));
  }
  applyEdits(folded, edits);
  const after = await outputs(folded, feeds);
  return { before, after, trace, folded };
}

function expectClose(a: TensorMap, b: TensorMap, rel = 2e-5): void {
  for (const k of Object.keys(a)) {
    if (a[k]!.dtype !== 'float32') {
      expect(b[k]!.values).toEqual(a[k]!.values);
      continue;
    }
    const x = a[k]!.values as Float32Array;
    const y = b[k]!.values as Float32Array;
    const scale = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    expect(worst).toBeLessThanOrEqual(rel * scale);
  }
}

const feed = (name: string, dims: number[], seed: number): TensorMap => ({ [name]: { name, dtype: 'float32', dims, values: rnd(dims.reduce((a, d) => a * d, 1), seed, -3, 3) } });

/** A model of `nodes`; outputs are float32 but for a Shape's (`name:int64`). */
function model(nodes: NodeProto[], inits: ReturnType<typeof f32>[], input: [string, number[]], outs: string[], opset = 17): ModelProto {
  const outputs = outs.map((o) => (o.endsWith(':int64') ? makeValueInfo(o.slice(0, -6), 'int64') : makeValueInfo(o, 'float32')));
  return makeModel(makeGraph({ nodes, initializers: inits, inputs: [makeValueInfo(input[0], 'float32', input[1])], outputs }), { '': opset });
}

describe('traceAwqFold + applyAwqFold keep the float model', () => {
  it('LayerNormalization → MatMul: the scale and bias absorb 1/s', async () => {
    const m = model(
      [makeNode('LayerNormalization', ['x', 'g', 'b'], ['h'], { name: 'ln', attributes: { axis: -1 } }), makeNode('MatMul', ['h', 'W'], ['y'], { name: 'mm' })],
      [f32('g', [32], 1, 0.5, 2), f32('b', [32], 2), f32('W', [32, 16], 3)],
      ['x', [5, 32]],
      ['y'],
    );
    const r = await foldRandom(m, 'h', -1, [{ node: 'mm', weight: 'W', axis: 0 }], feed('x', [5, 32], 4));
    expect(r.trace.ok && r.trace.path.actions.map((a) => `${a.node.name}:${a.input}`)).toEqual(['ln:1', 'ln:2']);
    expectClose(r.before, r.after);
    // Rewritten in place: no Mul, no new initializer.
    expect(r.folded.graph!.initializer.map((t) => t.name).sort()).toEqual(['W', 'b', 'g']);
  });

  it('Conv → Relu → MaxPool → Conv: the first Conv output channels (W and B) absorb 1/s through the homogeneous ops', async () => {
    const m = model(
      [
        makeNode('Conv', ['x', 'W1', 'B1'], ['c1'], { name: 'conv1', attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } }),
        makeNode('Relu', ['c1'], ['r'], { name: 'relu' }),
        makeNode('MaxPool', ['r'], ['p'], { name: 'pool', attributes: { kernel_shape: [2, 2], strides: [2, 2] } }),
        makeNode('Conv', ['p', 'W2', 'B2'], ['y'], { name: 'conv2', attributes: { kernel_shape: [1, 1] } }),
      ],
      [f32('W1', [12, 3, 3, 3], 5), f32('B1', [12], 6), f32('W2', [4, 12, 1, 1], 7), f32('B2', [4], 8)],
      ['x', [2, 3, 8, 8]],
      ['y'],
    );
    const r = await foldRandom(m, 'p', 1, [{ node: 'conv2', weight: 'W2', axis: 1 }], feed('x', [2, 3, 8, 8], 9));
    expect(r.trace.ok && r.trace.path.nodes.map((n) => n.name)).toEqual(['pool', 'relu', 'conv1']);
    expectClose(r.before, r.after);
  });

  it('MatMul feeding two MatMuls: one s folds into the producer columns for both', async () => {
    const m = model(
      [makeNode('MatMul', ['x', 'W0'], ['h'], { name: 'mm0' }), makeNode('MatMul', ['h', 'Wa'], ['ya'], { name: 'mma' }), makeNode('MatMul', ['h', 'Wb'], ['yb'], { name: 'mmb' }), makeNode('Shape', ['h'], ['hs'], { name: 'shape' })],
      [f32('W0', [16, 24], 10), f32('Wa', [24, 8], 11), f32('Wb', [24, 8], 12)],
      ['x', [3, 16]],
      ['ya', 'yb', 'hs:int64'],
    );
    const r = await foldRandom(m, 'h', -1, [{ node: 'mma', weight: 'Wa', axis: 0 }, { node: 'mmb', weight: 'Wb', axis: 0 }], feed('x', [3, 16], 13));
    expectClose(r.before, r.after);
  });

  it('Gemm (transB) with a per-column bias, BatchNormalization and a scalar Mul/Add chain spread out per channel', async () => {
    const gemm = model(
      [makeNode('Gemm', ['x', 'W1', 'c1'], ['h'], { name: 'g1', attributes: { transB: 1 } }), makeNode('Gemm', ['h', 'W2'], ['y'], { name: 'g2' })],
      [f32('W1', [20, 10], 14), f32('c1', [20], 15), f32('W2', [20, 6], 16)],
      ['x', [4, 10]],
      ['y'],
    );
    expectClose(...pair(await foldRandom(gemm, 'h', 1, [{ node: 'g2', weight: 'W2', axis: 0 }], feed('x', [4, 10], 17))));
    // conv → BN → (x·a)/d + b with scalar a, d, b (a learnable affine block) → Conv: the scalar a becomes one value per channel.
    const affine = model(
      [
        makeNode('BatchNormalization', ['x', 'bs', 'bb', 'bm', 'bv'], ['n'], { name: 'bn' }),
        makeNode('Relu', ['n'], ['r'], { name: 'relu' }),
        makeNode('Mul', ['a', 'r'], ['m1'], { name: 'mul' }),
        makeNode('Div', ['m1', 'd'], ['m2'], { name: 'div' }),
        makeNode('Add', ['m2', 'b'], ['h'], { name: 'add' }),
        makeNode('Conv', ['h', 'W'], ['y'], { name: 'conv', attributes: { kernel_shape: [1, 1] } }),
      ],
      [f32('bs', [6], 18, 0.5, 2), f32('bb', [6], 19), f32('bm', [6], 20), f32('bv', [6], 21, 0.5, 2), f32('a', [1], 22, 0.5, 2), f32('d', [], 23, 2, 6), f32('b', [1, 1, 1], 24), f32('W', [5, 6, 1, 1], 25)],
      ['x', [2, 6, 4, 4]],
      ['y'],
    );
    const r = await foldRandom(affine, 'h', 1, [{ node: 'conv', weight: 'W', axis: 1 }], feed('x', [2, 6, 4, 4], 26));
    // The Mul's scalar absorbs the scale (terminal); the Add's term is spread out to [6, 1, 1].
    expect(r.trace.ok && r.trace.path.actions.map((a) => `${a.node.name}:${a.op}:[${a.dims.join(',')}]`)).toEqual(['add:divide:[6,1,1]', 'div:multiply:[6,1,1]']);
    expectClose(r.before, r.after);
  });

  it('Add of two run-time terms carries the scale into both producers', async () => {
    const m = model(
      [makeNode('MatMul', ['x', 'Wa'], ['a'], { name: 'mma' }), makeNode('MatMul', ['x', 'Wb'], ['b'], { name: 'mmb' }), makeNode('Add', ['a', 'b'], ['h'], { name: 'add' }), makeNode('MatMul', ['h', 'W'], ['y'], { name: 'mm' })],
      [f32('Wa', [8, 12], 27), f32('Wb', [8, 12], 28), f32('W', [12, 4], 29)],
      ['x', [3, 8]],
      ['y'],
    );
    const r = await foldRandom(m, 'h', -1, [{ node: 'mm', weight: 'W', axis: 0 }], feed('x', [3, 8], 30));
    expect(r.trace.ok && r.trace.path.actions.map((a) => a.node.name)).toEqual(['mma', 'mmb']);
    expectClose(r.before, r.after);
  });
});

const pair = (r: { before: TensorMap; after: TensorMap }): [TensorMap, TensorMap] => [r.before, r.after];

describe('traceAwqFold refuses what it cannot fold exactly, saying why', () => {
  const refuse = async (m: ModelProto, x: string, axis: number, consumers: string[], feeds: TensorMap) => {
    const root = indexGraph(m.graph!);
    const probe = await outputs(m, feeds, foldShapeNeeds({ root, ir: 8 }, x));
    const shapes = new Map(Object.entries(probe).map(([k, v]) => [k, v.dims.map(Number)]));
    const rank = shapes.get(x)!.length;
    const t = traceAwqFold({ root, ir: 8, shapes }, x, { axis: axis < 0 ? axis + rank : axis, rank, channels: shapes.get(x)![axis < 0 ? axis + rank : axis]! }, consumers.map((c) => m.graph!.node.find((n) => n.name === c)!));
    expect(t.ok).toBe(false);
    return t.ok ? '' : t.reason;
  };
  const mlp = (mid: NodeProto[], outs = ['y']) =>
    model([makeNode('MatMul', ['x', 'W0'], ['h0'], { name: 'mm0' }), ...mid, makeNode('MatMul', ['h', 'W'], ['y'], { name: 'mm' })], [f32('W0', [8, 12], 31), f32('W', [12, 4], 32), f32('W2', [8, 1], 33)], ['x', [3, 8]], outs);
  const x = feed('x', [3, 8], 34);

  it('a nonlinearity that is not homogeneous (Sigmoid)', async () => {
    expect(await refuse(mlp([makeNode('Sigmoid', ['h0'], ['h'], { name: 'sig' })]), 'h', -1, ['mm'], x)).toMatch(/sig \(Sigmoid\) does not commute/);
  });
  it('a producer output that is also a graph output, or feeds another op', async () => {
    expect(await refuse(mlp([makeNode('Relu', ['h0'], ['h'], { name: 'relu' })], ['y', 'h0']), 'h', -1, ['mm'], x)).toMatch(/'h0' is a graph output/);
    expect(await refuse(mlp([makeNode('Relu', ['h0'], ['h'], { name: 'relu' }), makeNode('Neg', ['h'], ['z'], { name: 'neg' })], ['y', 'z']), 'h', -1, ['mm'], x)).toMatch(/'h' also feeds neg \(Neg\)/);
  });
  it('a run-time term broadcast along the channels', async () => {
    const m = mlp([makeNode('MatMul', ['x', 'W2'], ['g'], { name: 'mmg' }), makeNode('Add', ['h0', 'g'], ['h'], { name: 'add' })]);
    expect(await refuse(m, 'h', -1, ['mm'], x)).toMatch(/'g' \(dims \[3, 1\]\) is broadcast along the channels/);
  });
  it('a Conv weight shared with another Conv (it cannot be rewritten for one reader)', async () => {
    const m = model(
      [
        makeNode('Conv', ['x', 'Wc'], ['c'], { name: 'conv1', attributes: { kernel_shape: [1, 1] } }),
        makeNode('Conv', ['x', 'Wc'], ['c2'], { name: 'conv0', attributes: { kernel_shape: [1, 1] } }),
        makeNode('Conv', ['c', 'W'], ['y'], { name: 'conv2', attributes: { kernel_shape: [1, 1] } }),
      ],
      [f32('Wc', [4, 4, 1, 1], 36), f32('W', [2, 4, 1, 1], 37)],
      ['x', [1, 4, 3, 3]],
      ['y', 'c2'],
    );
    expect(await refuse(m, 'c', 1, ['conv2'], feed('x', [1, 4, 3, 3], 38))).toMatch(/weight 'Wc' of conv1 \(Conv\) is shared/);
  });
});
