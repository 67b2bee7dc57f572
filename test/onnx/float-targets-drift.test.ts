// GPTQ fitted to the float model runs the float model beside the partly quantized one in one
// session. sequential-calibration-runs.test.ts checks the per-input-channel drift of MatMuls; here
// the two other paths that read the float model's values: the im2col patch drift of Conv weights
// (addConvPatches) and the hidden states R of a recurrent op multiplies (previousHiddenStates,
// initial_h included). Each must equal, bit for bit, the drift from the two models run APART: the
// float model alone, and the model with the earlier passes' weights dequantized run whole from its
// inputs. A name the float copy failed to rename, a value fetched from the wrong model, or rows
// paired with the wrong float rows would all change the numbers.
import { clone } from '@bufbuild/protobuf';
import type { ModelProto, TensorProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it, vi } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { previousHiddenStates } from '../../src/onnx/calibration/previous-hidden-states.js';
import { indexGraph } from '../../src/onnx/graph/graph.js';
import type { BlockedWeight, BlockedWeightOptions } from '../../src/onnx/modes/weight-only/blocked-weight.js';
import { dequantizeBlocked, quantizeBlockedWeight } from '../../src/onnx/modes/weight-only/blocked-weight.js';
import { addConvPatches, convGeometry, needsPatchHessian } from '../../src/onnx/modes/weight-only/conv-patch-hessian.js';
import type { LayerStats } from '../../src/onnx/modes/weight-only/layer-stats.js';
import { addRows, channelRows, createLayerStats, HESSIAN_ROWS } from '../../src/onnx/modes/weight-only/layer-stats.js';
import { calibrateWeightLayers, layerInputOf } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import type { WeightLayer } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import type { WeightScheme } from '../../src/onnx/modes/weight-only/weight-scheme.js';
import type { TensorMap } from '../../src/onnx/run-model.js';
import { randomWeights } from './models.js';

vi.setConfig({ testTimeout: 60_000 });

type Scheme = Exclude<WeightScheme, { form: 'float' }>;

/** A layer and how the test quantizes it: the scheme calibration dequantizes with, and quantizeBlockedWeight's axis and options. */
interface Quantized {
  readonly layer: WeightLayer;
  readonly axis: number;
  readonly blockSize: number | undefined;
  readonly options: BlockedWeightOptions;
}

const gptq = { dtype: 'int4', symmetric: true, method: 'gptq', damp: 0.01, actOrder: false, floatShare: 0.5 } as const;
type Dql = Extract<Scheme, { form: 'dequantize-linear' }>;
const dql = (granularity: Dql['granularity']): Dql => ({ form: 'dequantize-linear', dtype: 'int4', symmetric: true, granularity, domain: '', reduceRange: false });

function initializer(m: ModelProto, name: string): TensorProto {
  return m.graph!.initializer.find((t) => t.name === name)!;
}

/** A layer of node `node` for its weight input `weightInput`, quantized along `axis`. */
function layer(m: ModelProto, node: string, weightInput: number, scheme: Dql, axis: number, options: Partial<BlockedWeightOptions> = {}): Quantized {
  const n = m.graph!.node.find((x) => x.name === node)!;
  const name = n.input[weightInput]!;
  const tensor = initializer(m, name);
  const input = layerInputOf(n, weightInput, [tensor.dims.map(Number)], 8, indexGraph(m.graph!))!;
  expect(input).toBeDefined();
  const g = scheme.granularity;
  const blockSize = g.kind === 'per-block' ? g.blockSize : undefined;
  return { layer: { node: n, ...input, weights: [{ name, tensor, scheme, use: undefined }] }, axis, blockSize, options: { ...gptq, blockSize: blockSize ?? 32, ...options } };
}

const floats = (t: TensorProto): Float32Array => new Float32Array(t.rawData.slice().buffer);

/** Calibrates one layer per pass with float targets, keeping the statistics each layer got and the weight GPTQ chose from them. */
async function calibrate(m: ModelProto, specs: readonly Quantized[], data: () => TensorMap[], reuseBytes?: number) {
  const got = new Map<WeightLayer, { stats: readonly LayerStats[]; weight: BlockedWeight }>();
  const spec = new Map(specs.map((s) => [s.layer, s]));
  const result = await calibrateWeightLayers(
    m,
    specs.map((s) => s.layer),
    {
      runModel: createOrtRunner(),
      data,
      hessian: true,
      sample: false,
      sequential: true,
      floatTargets: true,
      layersPerPass: 1,
      ...(reuseBytes !== undefined && { reuseBytes }),
      quantizeLayer: (l, stats) => {
        const s = spec.get(l)!;
        const w = l.weights[0]!;
        const weight = quantizeBlockedWeight(floats(w.tensor), w.tensor.dims.map(Number), s.axis, s.options, stats);
        got.set(l, { stats, weight });
        return [{ name: w.name, weight, scheme: w.scheme }];
      },
    },
  );
  expect(result.summary).toMatchObject({ passes: specs.length, floatTargets: true });
  return got;
}

/** Runs `model` alone on the batches, keeping copies of `names` per batch. */
async function runApart(model: ModelProto, names: readonly string[], data: () => TensorMap[]): Promise<TensorMap[]> {
  const m = clone(ModelProtoSchema, model);
  for (const n of names) if (!m.graph!.output.some((v) => v.name === n)) m.graph!.output.push(makeValueInfo(n, 'float32'));
  const out: TensorMap[] = [];
  await createOrtRunner()(encodeModel(m), data(), (o) => {
    out.push(Object.fromEntries(names.map((n) => [n, { ...o[n]!, dims: [...o[n]!.dims], values: o[n]!.values.slice() }])));
  });
  return out;
}

/** The values a layer's statistics read: its input, or for R the Y output and initial_h. */
const readsOf = (l: WeightLayer): string[] => (l.recurrent ? [l.tensor, ...(l.node.input[5] ? [l.node.input[5]] : [])] : [l.tensor]);

/** Folds one batch into a layer's statistics as defined, `q` from the running model, `f` from the float model, both run apart. */
function fold(s: readonly LayerStats[], spec: Quantized, q: TensorMap, f: TensorMap): void {
  const l = spec.layer;
  const x = q[l.tensor]!;
  const xf = f[l.tensor]!.values as Float32Array;
  if (l.recurrent) {
    const h = l.node.input[5];
    for (let d = 0; d < l.groups; d++) {
      const reverse = l.recurrent.direction === 'reverse' || (l.recurrent.direction === 'bidirectional' && d === 1);
      const r = previousHiddenStates(x.values as Float32Array, x.dims, h ? (q[h]!.values as Float32Array) : undefined, l.recurrent.layout, d, reverse);
      const rf = previousHiddenStates(xf, x.dims, h ? (f[h]!.values as Float32Array) : undefined, l.recurrent.layout, d, reverse);
      addRows(s[d]!, r.data, r.rows, rf.data);
    }
    return;
  }
  const axis = l.channelAxis < 0 ? x.dims.length + l.channelAxis : l.channelAxis;
  const w = l.weights[0]!;
  const dims = w.tensor.dims.map(Number);
  const patches = needsPatchHessian(l.node, w.scheme, dims);
  // Channel-blocked weights fold a stratified HESSIAN_ROWS of a batch's patches, the others every patch.
  const maxRows = spec.axis === 1 ? HESSIAN_ROWS : Infinity;
  for (let g = 0; g < l.groups; g++) {
    const r = channelRows(x.values as Float32Array, x.dims, axis, g * l.cols, l.cols);
    addRows(s[g]!, r.data, r.rows, channelRows(xf, x.dims, axis, g * l.cols, l.cols).data);
    if (patches) addConvPatches(s[g]!.patchHessian!, x.values as Float32Array, x.dims, convGeometry(l.node, dims), g * l.cols, l.cols, maxRows, { acc: s[g]!.patchDrift!, float: xf });
  }
}

/**
 * Each layer's statistics as defined, one layer per pass: the float model run alone once, and per
 * pass the model whose earlier layers' weights are their dequantized values, run whole from its inputs.
 */
async function reference(m: ModelProto, specs: readonly Quantized[], weights: ReadonlyMap<WeightLayer, BlockedWeight>, data: () => TensorMap[]): Promise<Map<WeightLayer, LayerStats[]>> {
  const float = await runApart(m, specs.flatMap((s) => readsOf(s.layer)), data);
  const running = clone(ModelProtoSchema, m);
  const out = new Map<WeightLayer, LayerStats[]>();
  for (const spec of specs) {
    const l = spec.layer;
    const w = l.weights[0]!;
    const dims = w.tensor.dims.map(Number);
    const patchCols = needsPatchHessian(l.node, w.scheme, dims) ? dims.slice(1).reduce((a, d) => a * d, 1) : undefined;
    const stats = Array.from({ length: l.groups }, () => createLayerStats(l.cols, true, false, patchCols, true));
    const quantized = await runApart(running, readsOf(l), data);
    quantized.forEach((q, b) => fold(stats, spec, q, float[b]!));
    out.set(l, stats);
    const g = running.graph!;
    g.initializer[g.initializer.findIndex((t) => t.name === w.name)] = makeTensor(w.name, 'float32', dims, dequantizeBlocked(weights.get(l)!, dims, spec.axis, spec.blockSize));
  }
  return out;
}

const values = (s: LayerStats) => ({
  rows: s.rows,
  sumAbs: [...s.sumAbs],
  sumSq: [...s.sumSq],
  hessian: [...s.hessian!.hessian()],
  drift: [...s.drift!.drift()],
  ...(s.patchHessian && { patches: s.patchHessian.samples, patchHessian: [...s.patchHessian.hessian()], patchDrifted: s.patchDrift!.samples, patchDrift: [...s.patchDrift!.drift()] }),
});

/** Calibrates, then checks every layer's statistics against the reference; returns per layer the drifts (patch drifts where kept) and the statistics. */
async function check(m: ModelProto, specs: readonly Quantized[], data: () => TensorMap[], reuseBytes?: number): Promise<{ drifts: Float64Array[][]; stats: (readonly LayerStats[])[] }> {
  const got = await calibrate(m, specs, data, reuseBytes);
  const want = await reference(m, specs, new Map([...got].map(([l, g]) => [l, g.weight])), data);
  for (const { layer: l } of specs) {
    const stats = got.get(l)!.stats;
    expect(stats).toHaveLength(l.groups);
    stats.forEach((s, g) => expect(values(s), `${l.node.name} group ${g}`).toEqual(values(want.get(l)![g]!)));
    // GPTQ ran on these statistics (no fallback): the drift reached the weights later passes ran with.
    expect(got.get(l)!.weight, l.node.name).toMatchObject({ method: 'gptq' });
  }
  return { drifts: specs.map(({ layer: l }) => got.get(l)!.stats.map((s) => (s.patchDrift ?? s.drift!).drift())), stats: specs.map(({ layer: l }) => got.get(l)!.stats) };
}

const allZero = (d: readonly Float64Array[]): boolean => d.every((x) => x.every((v) => v === 0));

// Conv chain: x [2, 4, 48, 48] → c1 (4 → 8, 3×3, per output channel) → Relu → c2 (8 → 8, 3×3,
// blocked along its 8 input channels: 4608 patches a batch, past HESSIAN_ROWS, so a stratified
// sample) → Relu → c3 (depthwise 3×3, stride 2, uneven pads, per output channel) → Relu →
// c4 (8 → 4, group 2, 3×3 blocked along its kernel's last axis) → y.
const S = 48;
function convChain(): ModelProto {
  const w = (name: string, dims: number[], seed: number) => makeTensor(name, 'float32', dims, randomWeights(dims.reduce((a, d) => a * d, 1), seed).map((v) => v * 0.5));
  return makeModel(
    makeGraph({
      nodes: [
        makeNode('Conv', ['x', 'W1'], ['c1'], { name: 'c1', attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } }),
        makeNode('Relu', ['c1'], ['r1'], { name: 'r1' }),
        makeNode('Conv', ['r1', 'W2'], ['c2'], { name: 'c2', attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } }),
        makeNode('Relu', ['c2'], ['r2'], { name: 'r2' }),
        makeNode('Conv', ['r2', 'W3'], ['c3'], { name: 'c3', attributes: { kernel_shape: [3, 3], group: 8, strides: [2, 2], pads: [1, 0, 2, 1] } }),
        makeNode('Relu', ['c3'], ['r3'], { name: 'r3' }),
        makeNode('Conv', ['r3', 'W4'], ['y'], { name: 'c4', attributes: { kernel_shape: [3, 3], group: 2, pads: [1, 1, 1, 1] } }),
      ],
      inputs: [makeValueInfo('x', 'float32', ['n', 4, S, S])],
      outputs: [makeValueInfo('y', 'float32')],
      initializers: [w('W1', [8, 4, 3, 3], 1), w('W2', [8, 8, 3, 3], 2), w('W3', [8, 1, 3, 3], 3), w('W4', [4, 4, 3, 3], 4)],
    }),
    { '': 21 },
  );
}

const convData = (): TensorMap[] => [0, 1].map((k) => ({ x: { name: 'x', dtype: 'float32', dims: [2, 4, S, S], values: randomWeights(2 * 4 * S * S, 20 + k) } }));

function convSpecs(m: ModelProto): Quantized[] {
  const perChannel = dql({ kind: 'per-axis', axis: 0 });
  return [
    layer(m, 'c1', 1, perChannel, 0, { perChannel: true }),
    layer(m, 'c2', 1, dql({ kind: 'per-block', axis: 1, blockSize: 8 }), 1),
    layer(m, 'c3', 1, perChannel, 0, { perChannel: true }),
    layer(m, 'c4', 1, dql({ kind: 'per-block', axis: 3, blockSize: 3 }), 3, { kernelTaps: true }),
  ];
}

// Recurrent: x [6, 3, 16] → m0 = x·W0 → LSTM (bidirectional, W, R, B) on m0 with initial_h =
// Tanh(m0[0:2]·Wh) (a computed value, so the float copy's own initial_h must be read) → Y.
const SEQ = 6;
const BATCH = 3;
const K = 16;
const HIDDEN = 8;
function lstmModel(): ModelProto {
  const gates = 4 * HIDDEN;
  const w = (name: string, dims: number[], seed: number, scale: number) => makeTensor(name, 'float32', dims, randomWeights(dims.reduce((a, d) => a * d, 1), seed).map((v) => v * scale));
  return makeModel(
    makeGraph({
      nodes: [
        makeNode('MatMul', ['x', 'W0'], ['m0'], { name: 'mm0' }),
        makeNode('Slice', ['m0', 'starts', 'ends'], ['s0'], { name: 'first2' }),
        makeNode('MatMul', ['s0', 'Wh'], ['mh'], { name: 'mmh' }),
        makeNode('Tanh', ['mh'], ['h0'], { name: 'h0' }),
        makeNode('LSTM', ['m0', 'W', 'R', 'B', '', 'h0'], ['Y'], { name: 'cell', attributes: { hidden_size: HIDDEN, direction: 'bidirectional' } }),
      ],
      inputs: [makeValueInfo('x', 'float32', [SEQ, BATCH, K])],
      outputs: [makeValueInfo('Y', 'float32', [SEQ, 2, BATCH, HIDDEN])],
      initializers: [
        w('W0', [K, K], 1, 0.5),
        makeTensor('starts', 'int64', [1], new BigInt64Array([0n])),
        makeTensor('ends', 'int64', [1], new BigInt64Array([2n])),
        w('Wh', [K, HIDDEN], 2, 0.5),
        w('W', [2, gates, K], 3, 0.6),
        w('R', [2, gates, HIDDEN], 4, 0.6),
        w('B', [2, 2 * gates], 5, 0.2),
      ],
    }),
    { '': 17 },
  );
}

const lstmData = (): TensorMap[] => [0, 1, 2].map((k) => ({ x: { name: 'x', dtype: 'float32', dims: [SEQ, BATCH, K], values: randomWeights(SEQ * BATCH * K, 40 + k) } }));

function lstmSpecs(m: ModelProto): Quantized[] {
  return [
    layer(m, 'mm0', 1, dql({ kind: 'per-block', axis: 0, blockSize: 16 }), 0),
    layer(m, 'mmh', 1, dql({ kind: 'per-block', axis: 0, blockSize: 16 }), 0),
    layer(m, 'cell', 1, dql({ kind: 'per-block', axis: 2, blockSize: 16 }), 2),
    layer(m, 'cell', 2, dql({ kind: 'per-block', axis: 2, blockSize: 8 }), 2),
  ];
}

describe('float targets: the drift of Conv patches and recurrent hidden states', () => {
  for (const reuseBytes of [undefined, 0]) {
    const how = reuseBytes === 0 ? ', every pass from the inputs' : '';
    it(`gives each Conv's patch drift (per output channel, blocked along input channels with sampled patches, depthwise, blocked along taps in groups) of the two models run apart, bit for bit${how}`, async () => {
      const m = convChain();
      const specs = convSpecs(m);
      for (const s of specs) expect(s.layer.weights.every((w) => needsPatchHessian(s.layer.node, w.scheme, w.tensor.dims.map(Number))), s.layer.node.name).toBe(true);
      const { drifts, stats } = await check(m, specs, convData, reuseBytes);
      // c2 sees 2 × 48 × 48 patches a batch: the drift must pair the float model's patches with the same stratified sample.
      expect(stats[1]![0]!.patchDrift!.samples).toBe(2 * HESSIAN_ROWS);
      expect(stats[2]!).toHaveLength(8);
      // The first pass runs the float model itself; every later layer's input drifts once an earlier layer is quantized.
      expect(allZero(drifts[0]!)).toBe(true);
      for (const d of drifts.slice(1)) for (const g of d) expect(g.some((v) => v !== 0)).toBe(true);
    });

    it(`gives an LSTM's R the drift of its hidden states h(t−1) (both directions, a computed initial_h) of the two models run apart, bit for bit${how}`, async () => {
      const m = lstmModel();
      const specs = lstmSpecs(m);
      expect(specs[3]!.layer).toMatchObject({ tensor: 'Y', groups: 2, cols: HIDDEN, recurrent: { direction: 'bidirectional' } });
      const { drifts, stats } = await check(m, specs, lstmData, reuseBytes);
      // One row per step and batch entry per direction, the first from initial_h.
      for (const s of stats[3]!) expect(s.drift!.samples).toBe(3 * SEQ * BATCH);
      expect(allZero(drifts[0]!)).toBe(true);
      for (const d of drifts.slice(1)) for (const g of d) expect(g.some((v) => v !== 0)).toBe(true);
    });
  }
});
