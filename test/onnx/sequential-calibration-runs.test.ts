// Sequential (GPTQ) calibration runs each pass on a model cut down to what its captured values
// depend on, fed the values an earlier pass handed on. Checked against the definition: every
// pass's statistics equal, bit for bit, those of the WHOLE model run from its inputs with the
// weights of earlier passes replaced by their dequantized values, as each pass used to run.
import { clone } from '@bufbuild/protobuf';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../src/core/float16.js';
import type { ModelProto, NodeProto, TensorProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it, vi } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { decodeModel, encodeModel } from '../../src/formats/onnx/model.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { indexGraph } from '../../src/onnx/graph/graph.js';
import type { BlockedWeight } from '../../src/onnx/modes/weight-only/blocked-weight.js';
import { dequantizeBlocked, quantizeBlockedWeight } from '../../src/onnx/modes/weight-only/blocked-weight.js';
import type { LayerStats } from '../../src/onnx/modes/weight-only/layer-stats.js';
import { addRows, channelRows, createLayerStats } from '../../src/onnx/modes/weight-only/layer-stats.js';
import { calibrateWeightLayers, layerInputOf } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import type { WeightLayer } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import type { RunModel, TensorMap } from '../../src/onnx/run-model.js';
import { randomWeights } from './models.js';

vi.setConfig({ testTimeout: 60_000 });

const K = 32;

type Float = 'float32' | 'float16';
const toDtype = (v: Float32Array, dtype: Float) => (dtype === 'float16' ? float32ToFloat16Bits(v) : v);
const fromDtype = (v: unknown, dtype: Float) => (dtype === 'float16' ? float16BitsToFloat32(v as Uint16Array) : (v as Float32Array));
const ROWS = 24;

/**
 * x [ROWS, K], flip [] bool →
 *   m0 = x·W0, r0 = Relu(m0 + mean of W2's rows) (W2 a Constant node, given a value info), m1 = r0·W1, a1 = m1 + r0 (a skip), m2 = a1·W2,
 *   side = Relu(x) (no weight), s2 = m2 + side, f = If(flip) { Relu(s2) } else { Neg(s2) } (the
 *   branches read s2 from the main graph), m3 = f·W3, m4 = Relu(m3)·W1 (W1 shared), y = m4 + a1;
 *   and a second output z = Sigmoid(m1) no layer needs.
 */
function chainModel(dtype: Float = 'float32'): ModelProto {
  const w = (name: string, seed: number) => makeTensor(name, dtype, [K, K], toDtype(randomWeights(K * K, seed), dtype));
  const branch = (name: string, op: string) => makeGraph({ name, nodes: [makeNode(op, ['s2'], [`${name}_y`], { name: `${name}_${op}` })], inputs: [], outputs: [makeValueInfo(`${name}_y`, dtype)] });
  const nodes: NodeProto[] = [
    makeNode('Constant', [], ['W2'], { name: 'w2', attributes: { value: w('W2', 3) } }),
    makeNode('ReduceMean', ['W2'], ['w2_mean'], { name: 'w2_mean', attributes: { axes: [0] } }),
    makeNode('MatMul', ['x', 'W0'], ['m0'], { name: 'mm0' }),
    makeNode('Add', ['m0', 'w2_mean'], ['m0b'], { name: 'shift0' }),
    makeNode('Relu', ['m0b'], ['r0'], { name: 'relu0' }),
    makeNode('MatMul', ['r0', 'W1'], ['m1'], { name: 'mm1' }),
    makeNode('Add', ['m1', 'r0'], ['a1'], { name: 'skip' }),
    makeNode('MatMul', ['a1', 'W2'], ['m2'], { name: 'mm2' }),
    makeNode('Relu', ['x'], ['side'], { name: 'side' }),
    makeNode('Add', ['m2', 'side'], ['s2'], { name: 'join' }),
    makeNode('If', ['flip'], ['f'], { name: 'if', attributes: { then_branch: branch('then', 'Relu'), else_branch: branch('else', 'Neg') } }),
    makeNode('MatMul', ['f', 'W3'], ['m3'], { name: 'mm3' }),
    makeNode('Relu', ['m3'], ['r3'], { name: 'relu3' }),
    makeNode('MatMul', ['r3', 'W1'], ['m4'], { name: 'mm4' }),
    makeNode('Add', ['m4', 'a1'], ['y'], { name: 'out' }),
    makeNode('Sigmoid', ['m1'], ['z'], { name: 'z' }),
  ];
  return makeModel(
    makeGraph({
      nodes,
      inputs: [makeValueInfo('x', dtype, [ROWS, K]), makeValueInfo('flip', 'bool', [])],
      outputs: [makeValueInfo('y', dtype, [ROWS, K]), makeValueInfo('z', dtype, [ROWS, K])],
      initializers: [w('W0', 1), w('W1', 2), w('W3', 4)],
      valueInfo: [makeValueInfo('W2', dtype, [K, K])],
    }),
    { '': 17 },
  );
}

const scheme = { form: 'dequantize-linear', dtype: 'int4', symmetric: true, granularity: { kind: 'per-block', axis: 0, blockSize: 16 }, domain: '', reduceRange: false } as const;

function weightTensor(m: ModelProto, name: string): TensorProto {
  const g = m.graph!;
  return g.initializer.find((t) => t.name === name) ?? g.node.find((n) => n.output[0] === name)!.attribute[0]!.t!;
}

function layersOf(m: ModelProto): WeightLayer[] {
  const scope = indexGraph(m.graph!);
  return m.graph!.node
    .filter((n) => n.opType === 'MatMul')
    .map((node) => {
      const tensor = weightTensor(m, node.input[1]!);
      const input = layerInputOf(node, 1, [tensor.dims.map(Number)], 8, scope)!;
      return { node, ...input, weights: [{ name: node.input[1]!, tensor, scheme, use: undefined }] };
    });
}

const floats = (t: TensorProto): Float32Array => (t.dataType === 10 ? float16BitsToFloat32(new Uint16Array(t.rawData.slice().buffer)) : new Float32Array(t.rawData.slice().buffer));

function batches(dtype: Float): TensorMap[] {
  return [1, 2, 3].map((seed) => ({
    x: { name: 'x', dtype, dims: [ROWS, K], values: toDtype(randomWeights(ROWS * K, 100 + seed), dtype) },
    flip: { name: 'flip', dtype: 'bool', dims: [], values: new Uint8Array([seed % 2]) },
  }));
}

const gptq = (l: WeightLayer, stats: readonly LayerStats[]): BlockedWeight => quantizeBlockedWeight(floats(l.weights[0]!.tensor), [K, K], 0, { dtype: 'int4', symmetric: true, blockSize: 16, method: 'gptq', damp: 0.01, actOrder: false }, stats);

/** Calibrates sequentially, recording per layer the statistics it got and the weight GPTQ chose; and the models each run was given. */
async function calibrate(m: ModelProto, opts: { layersPerPass: number; reuseBytes?: number; dtype?: Float; floatTargets?: boolean }) {
  const layers = layersOf(m);
  const got = new Map<WeightLayer, { stats: readonly LayerStats[]; weight: BlockedWeight }>();
  const runs: ModelProto[] = [];
  const ort = createOrtRunner();
  const runModel: RunModel = (bytes, b, onOutputs, names) => {
    runs.push(decodeModel(bytes));
    return ort(bytes, b, onOutputs, names);
  };
  const result = await calibrateWeightLayers(m, layers, {
    runModel,
    data: () => batches(opts.dtype ?? 'float32'),
    hessian: true,
    sample: true,
    sequential: true,
    layersPerPass: opts.layersPerPass,
    ...(opts.reuseBytes !== undefined && { reuseBytes: opts.reuseBytes }),
    ...(opts.floatTargets && { floatTargets: true }),
    quantizeLayer: (l, stats) => {
      const weight = gptq(l, stats);
      got.set(l, { stats, weight });
      return [{ name: l.weights[0]!.name, weight, scheme }];
    },
  });
  return { layers, got, runs, result };
}

/** Every layer's input in the float model, per batch (its rows). */
async function floatRows(m: ModelProto, layers: readonly WeightLayer[], dtype: Float): Promise<Map<WeightLayer, Float32Array[]>> {
  const model = clone(ModelProtoSchema, m);
  for (const l of layers) if (!model.graph!.output.some((v) => v.name === l.tensor)) model.graph!.output.push(makeValueInfo(l.tensor, dtype));
  const out = new Map(layers.map((l) => [l, [] as Float32Array[]]));
  await createOrtRunner()(encodeModel(model), batches(dtype), (o) => {
    for (const l of layers) {
      const t = o[l.tensor]!;
      out.get(l)!.push(channelRows(fromDtype(t.values, dtype), t.dims, 1).data);
    }
  });
  return out;
}

/**
 * Each pass's statistics as defined: the whole model, earlier passes' weights dequantized, run from
 * its inputs; with `float` (each layer's input in the float model), the drift from it too.
 */
async function reference(m: ModelProto, layers: readonly WeightLayer[], passes: readonly (readonly WeightLayer[])[], weights: ReadonlyMap<WeightLayer, BlockedWeight>, dtype: Float, float?: ReadonlyMap<WeightLayer, Float32Array[]>) {
  const out = new Map<WeightLayer, LayerStats>();
  const running = clone(ModelProtoSchema, m);
  for (const group of passes) {
    const model = clone(ModelProtoSchema, running);
    for (const l of group) if (!model.graph!.output.some((v) => v.name === l.tensor)) model.graph!.output.push(makeValueInfo(l.tensor, dtype));
    const stats = new Map(group.map((l) => [l, createLayerStats(K, true, true, undefined, float !== undefined)]));
    await createOrtRunner()(encodeModel(model), batches(dtype), (o, batch) => {
      for (const l of group) {
        const t = o[l.tensor]!;
        const r = channelRows(fromDtype(t.values, dtype), t.dims, 1);
        addRows(stats.get(l)!, r.data, r.rows, float?.get(l)![batch]);
      }
    });
    for (const l of group) {
      out.set(l, stats.get(l)!);
      const values = dequantizeBlocked(weights.get(l)!, [K, K], 0, 16);
      weightTensor(running, l.weights[0]!.name).rawData = new Uint8Array(toDtype(values, dtype).buffer as ArrayBuffer);
    }
  }
  return layers.map((l) => out.get(l)!);
}

const bytes = (s: LayerStats) => ({ rows: s.rows, sumAbs: [...s.sumAbs], sumSq: [...s.sumSq], hessian: [...s.hessian!.hessian()], sample: [...s.sample!], ...(s.drift && { drift: [...s.drift.drift()] }) });

describe('sequential calibration on pruned models', () => {
  // float16: onnxruntime computes most float16 nodes in float32 and may pass that on unrounded, so no float16 value is kept between passes.
  for (const opts of [{ layersPerPass: 1 }, { layersPerPass: 2 }, { layersPerPass: 1, reuseBytes: 0 }, { layersPerPass: 1, dtype: 'float16' as const }]) {
    it(`gives every pass the statistics of the whole model run from its inputs, bit for bit (${JSON.stringify(opts)})`, async () => {
      const dtype = opts.dtype ?? 'float32';
      const m = chainModel(dtype);
      const { layers, got, runs, result } = await calibrate(m, opts);
      expect(result.summary.passes).toBe(Math.ceil(layers.length / opts.layersPerPass));
      const passes = Array.from({ length: result.summary.passes }, (_, p) => layers.slice(p * opts.layersPerPass, (p + 1) * opts.layersPerPass));
      const want = await reference(m, layers, passes, new Map([...got].map(([l, g]) => [l, g.weight])), dtype);
      layers.forEach((l, i) => {
        expect(got.get(l)!.stats).toHaveLength(1);
        expect(bytes(got.get(l)!.stats[0]!)).toEqual(bytes(want[i]!));
      });
      // Each run computes less than the whole model: the first pass stops before its layer, none computes z.
      const whole = m.graph!.node.length;
      expect(runs).toHaveLength(result.summary.passes);
      for (const r of runs) {
        expect(r.graph!.node.length).toBeLessThan(whole);
        expect(r.graph!.node.some((n) => n.output.includes('z'))).toBe(false);
      }
      expect(runs[0]!.graph!.node.map((n) => n.name)).toEqual(opts.layersPerPass === 1 ? [] : ['w2', 'w2_mean', 'mm0', 'shift0', 'relu0']);
      const fed = runs.map((r) => r.graph!.input.map((v) => v.name).filter((n) => n !== 'x' && n !== 'flip'));
      if (opts.reuseBytes === 0 || dtype === 'float16') expect(fed.flat()).toEqual([]);
      else {
        // The last pass starts from kept values, not from x: mm0 is not run again.
        expect(fed.at(-1)!.length).toBeGreaterThan(0);
        expect(runs.at(-1)!.graph!.node.some((n) => n.name === 'mm0')).toBe(false);
      }
    });
  }

  // Float targets: the float model runs in the same session as the running one; the drift must be that of the two models run apart.
  for (const opts of [{ layersPerPass: 1 }, { layersPerPass: 2 }, { layersPerPass: 1, reuseBytes: 0 }]) {
    it(`with float targets, gives every pass the drift from the float model run on its own, bit for bit (${JSON.stringify(opts)})`, async () => {
      const m = chainModel();
      const { layers, got, result } = await calibrate(m, { ...opts, floatTargets: true });
      // Each layer reads another's output (or x): a pass each, whatever layersPerPass allows, so no layer corrects a drift its pass's fit already corrected.
      expect(result.summary.passes).toBe(layers.length);
      const passes = layers.map((l) => [l]);
      const want = await reference(m, layers, passes, new Map([...got].map(([l, g]) => [l, g.weight])), 'float32', await floatRows(m, layers, 'float32'));
      layers.forEach((l, i) => expect(bytes(got.get(l)!.stats[0]!)).toEqual(bytes(want[i]!)));
      // The first pass runs the float model itself: no drift. Every later one's inputs drift once an earlier pass's weights are quantized.
      const drift = (l: WeightLayer) => got.get(l)!.stats[0]!.drift!.drift();
      for (const l of passes[0]!) expect(drift(l).every((v) => v === 0)).toBe(true);
      for (const l of passes.slice(1).flat()) expect(drift(l).some((v) => v !== 0)).toBe(true);
    });
  }

  it('hands on a Constant-node weight only once the pass quantizing it is over', async () => {
    const m = chainModel();
    const { runs } = await calibrate(m, { layersPerPass: 1 });
    // W2 (a Constant node's output, also read by w2_mean before mm2) is quantized with mm2, pass 2: kept from pass 3 on at the earliest.
    const fedW2 = runs.map((r, p) => (r.graph!.input.some((v) => v.name === 'W2') ? p : -1)).filter((p) => p >= 0);
    expect(fedW2.length).toBeGreaterThan(0);
    expect(Math.min(...fedW2)).toBeGreaterThan(2);
    // r0 reads W2 (through w2_mean): never kept before pass 3 either.
    expect(runs.slice(0, 3).some((r) => r.graph!.input.some((v) => v.name === 'r0'))).toBe(false);
  });
});
