// Calibration inside If branches: the branch each batch takes is found by running the model, the
// taken branches are inlined into a calibration-only copy, and each weight op's input (an LSTM's R:
// its previous hidden states) is captured there. Checked against values computed independently:
// the branch's ops run as their own model in onnxruntime, and a plain LSTM recurrence in JS.
import type { GraphProto, ModelProto, NodeProto } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { describe, expect, it, vi } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { inlineIfs } from '../../src/onnx/graph/inline-if.js';
import { allGraphs, indexGraph } from '../../src/onnx/graph/graph.js';
import { layerInputOf } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import { captureLayerStats } from './capture-layer-stats.js';
import type { WeightLayer } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import type { QuantizeOptionsInput } from '../../src/onnx/quantize-options.js';
import type { TensorMap } from '../../src/onnx/run-model.js';
import { randomWeights } from './models.js';

vi.setConfig({ testTimeout: 60_000 });

const K = 64;
const N = 48;

/** x [B, K] whose channels have very different scales (a few loud ones), deterministic per seed. */
function inputRows(rows: number, seed: number): Float32Array {
  const r = randomWeights(rows * K, seed);
  for (let i = 0; i < r.length; i++) r[i] = r[i]! * (i % K < 4 ? 8 : i % K < 16 ? 2 : 0.3);
  return r;
}

const branch = (name: string, nodes: NodeProto[], output: string, initializers: ReturnType<typeof makeTensor>[] = []): GraphProto =>
  makeGraph({ name, nodes, inputs: [], outputs: [makeValueInfo(output, 'float32')], initializers });

/**
 * x [B, K], sr [] int64 → a = x·W0 (main graph) → If (sr == 16000):
 *   then: t = Relu(a·W1) → inner If (rows of t == B_CAL): then t·W2, else t·W5 (W5 never reached)
 *   else: a·W4
 * Both branches name a value 'local' (sibling scopes may), and W1 is a Constant node of its branch.
 */
function ifModel(rows: number): ModelProto {
  const inner = makeNode('If', ['rows_match'], ['inner_y'], {
    name: 'inner_if',
    attributes: {
      then_branch: branch('inner_then', [makeNode('MatMul', ['t', 'W2'], ['local'], { name: 'mm_w2' })], 'local', [makeTensor('W2', 'float32', [K, N], randomWeights(K * N, 12))]),
      else_branch: branch('inner_else', [makeNode('MatMul', ['t', 'W5'], ['local'], { name: 'mm_w5' })], 'local', [makeTensor('W5', 'float32', [K, N], randomWeights(K * N, 15))]),
    },
  });
  const thenBranch = branch(
    'then',
    [
      makeNode('Constant', [], ['W1'], { attributes: { value: makeTensor('W1', 'float32', [K, K], randomWeights(K * K, 11)) } }),
      makeNode('MatMul', ['a', 'W1'], ['t0'], { name: 'mm_w1' }),
      makeNode('Relu', ['t0'], ['t']),
      makeNode('Shape', ['t'], ['t_shape']),
      makeNode('Gather', ['t_shape', 'zero'], ['t_rows'], { attributes: { axis: 0 } }),
      makeNode('Equal', ['t_rows', 'rows_cal'], ['rows_match']),
      inner,
    ],
    'inner_y',
  );
  const elseBranch = branch('else', [makeNode('MatMul', ['a', 'W4'], ['local'], { name: 'mm_w4' })], 'local', [makeTensor('W4', 'float32', [K, N], randomWeights(K * N, 14))]);
  const g = makeGraph({
    nodes: [
      makeNode('MatMul', ['x', 'W0'], ['a'], { name: 'mm_w0' }),
      makeNode('Equal', ['sr', 'sr16k'], ['is16k']),
      makeNode('If', ['is16k'], ['y'], { name: 'rate_if', attributes: { then_branch: thenBranch, else_branch: elseBranch } }),
    ],
    inputs: [makeValueInfo('x', 'float32', ['B', K]), makeValueInfo('sr', 'int64', [])],
    outputs: [makeValueInfo('y', 'float32', ['B', N])],
    initializers: [
      makeTensor('W0', 'float32', [K, K], randomWeights(K * K, 10)),
      makeTensor('sr16k', 'int64', [], new BigInt64Array([16000n])),
      makeTensor('zero', 'int64', [], new BigInt64Array([0n])),
      makeTensor('rows_cal', 'int64', [], new BigInt64Array([BigInt(rows)])),
    ],
  });
  return makeModel(g, { '': 17 });
}

const batch = (x: Float32Array, sr: bigint): TensorMap => ({
  x: { name: 'x', dtype: 'float32', dims: [x.length / K, K], values: x },
  sr: { name: 'sr', dtype: 'int64', dims: [], values: new BigInt64Array([sr]) },
});

async function run(model: ModelProto | Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(model instanceof Uint8Array ? model : encodeModel(model));
  try {
    const out = await s.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await s.release();
  }
}

const feeds = (b: TensorMap): Record<string, ort.Tensor> => ({ x: new ort.Tensor('float32', b.x!.values as Float32Array, b.x!.dims), sr: new ort.Tensor('int64', b.sr!.values as BigInt64Array, []) });

/** 2/n·XᵀX and Σx² per channel of rows [n, cols] (float64). */
function reference(x: Float32Array, cols: number): { hessian: Float64Array; sumSq: Float64Array; rows: number } {
  const n = x.length / cols;
  const hessian = new Float64Array(cols * cols);
  const sumSq = new Float64Array(cols);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < cols; i++) {
      const xi = x[r * cols + i]!;
      sumSq[i] += xi * xi;
      for (let j = 0; j < cols; j++) hessian[i * cols + j] += (2 / n) * xi * x[r * cols + j]!;
    }
  }
  return { hessian, sumSq, rows: n };
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rel = 1e-4): void {
  expect(a.length).toBe(b.length);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < b.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(rel * scale);
}

function findNode(g: GraphProto, name: string): NodeProto | undefined {
  for (const n of g.node) {
    if (n.name === name) return n;
    for (const a of n.attribute) {
      const hit = a.g && findNode(a.g, name);
      if (hit) return hit;
    }
  }
  return undefined;
}

const layerOf = (m: ModelProto, node: string, weight: string, tensor: string, cols: number): WeightLayer => ({
  node: findNode(m.graph!, node)!,
  tensor,
  channelAxis: -1,
  cols,
  groups: 1,
  weightInput: 1,
  weights: [{ name: weight, tensor: makeTensor(weight, 'float32', [cols, N], new Float32Array(cols * N)), scheme: { form: 'matmulnbits', dtype: 'int4', symmetric: true, blockSize: 32 }, use: undefined }],
});

describe('calibration inside If branches', () => {
  // More rows than channels over the batches: a Hessian of lower rank lets GPTQ fit the calibration rows alone.
  const ROWS = 48;
  const cal = [batch(inputRows(ROWS, 21), 16000n), batch(inputRows(ROWS, 22), 16000n)];

  it('inlining the taken branches computes what the model computes, also where sibling branches reuse a name', async () => {
    const model = ifModel(ROWS);
    for (const b of [...cal, batch(inputRows(ROWS, 23), 8000n)]) {
      const f = feeds(b);
      const sr16k = (b.sr!.values as BigInt64Array)[0] === 16000n;
      const choose = (n: NodeProto): boolean | undefined => (n.name === 'rate_if' ? sr16k : n.name === 'inner_if' ? true : undefined);
      const inlined = inlineIfs(model, choose);
      expect(inlined.model.graph!.node.some((n) => n.opType === 'If')).toBe(false);
      expect(model.graph!.node.some((n) => n.opType === 'If')).toBe(true);
      expect((await run(inlined.model, f)).y).toEqual((await run(model, f)).y);
    }
  });

  it('captures each branch op input equal to the branch run as its own model, and says where it came from', async () => {
    const model = ifModel(ROWS);
    const layers = [layerOf(model, 'mm_w0', 'W0', 'x', K), layerOf(model, 'mm_w1', 'W1', 'a', K), layerOf(model, 'mm_w2', 'W2', 't', K), layerOf(model, 'mm_w5', 'W5', 't', K), layerOf(model, 'mm_w4', 'W4', 'a', K)];
    const { stats, sources } = await captureLayerStats(model, layers, () => cal, { hessian: true });
    const got = new Map([...stats].map(([k, v]) => [k, v[0]!]));
    // The then branch's ops as a model of their own: x → W0 → W1 → Relu gives t, the input of W2.
    const own = makeModel(
      makeGraph({
        nodes: [makeNode('MatMul', ['x', 'W0'], ['a']), makeNode('MatMul', ['a', 'W1'], ['t0']), makeNode('Relu', ['t0'], ['t'])],
        inputs: [makeValueInfo('x', 'float32', ['B', K])],
        outputs: [makeValueInfo('a', 'float32', ['B', K]), makeValueInfo('t', 'float32', ['B', K])],
        initializers: [makeTensor('W0', 'float32', [K, K], randomWeights(K * K, 10)), makeTensor('W1', 'float32', [K, K], randomWeights(K * K, 11))],
      }),
      { '': 17 },
    );
    const outs = await Promise.all(cal.map((b) => run(own, { x: new ort.Tensor('float32', b.x!.values as Float32Array, b.x!.dims) })));
    const concat = (k: string): Float32Array => Float32Array.from(outs.flatMap((o) => Array.from(o[k]!)));
    for (const [weight, value] of [['W1', 'a'], ['W2', 't']] as const) {
      const want = reference(concat(value), K);
      const s = got.get(weight)!;
      expect(s.rows).toBe(want.rows);
      expectClose(s.sumSq, want.sumSq);
      // The accumulator averages per batch of equal size: the same 2/N·XᵀX over both batches.
      expectClose(s.hessian!.hessian(), want.hessian);
    }
    expect(got.get('W5')!.rows).toBe(0);
    expect(got.get('W4')!.rows).toBe(0);
    const source = (w: string) => sources.get(layers.find((l) => l.weights[0]!.name === w)!)!.source;
    expect(source('W0')).toBe("input 'x' captured in the main graph on 2 of 2 batches");
    expect(source('W2')).toBe("input 't' captured inside If 'rate_if' then_branch > If 'inner_if' then_branch on 2 of 2 batches");
    expect(source('W5')).toBe("calibration-free: no calibration batch takes the else_branch of If 'inner_if'");
    expect(source('W4')).toBe("calibration-free: no calibration batch takes the else_branch of If 'rate_if'");
  });

  it('captures per branch when batches take different branches', async () => {
    const model = ifModel(ROWS);
    const mixed = [cal[0]!, batch(inputRows(ROWS, 24), 8000n), cal[1]!];
    const layers = [layerOf(model, 'mm_w0', 'W0', 'x', K), layerOf(model, 'mm_w2', 'W2', 't', K), layerOf(model, 'mm_w4', 'W4', 'a', K)];
    const { stats, sources } = await captureLayerStats(model, layers, () => mixed, { hessian: false });
    const got = new Map([...stats].map(([k, v]) => [k, v[0]!]));
    expect(got.get('W0')!.rows).toBe(3 * ROWS);
    expect(got.get('W2')!.rows).toBe(2 * ROWS);
    expect(got.get('W4')!.rows).toBe(ROWS);
    // W4's input is a = x·W0 of the one 8 kHz batch.
    const a = (await run(makeModel(makeGraph({ nodes: [makeNode('MatMul', ['x', 'W0'], ['a'])], inputs: [makeValueInfo('x', 'float32', ['B', K])], outputs: [makeValueInfo('a', 'float32', ['B', K])], initializers: [makeTensor('W0', 'float32', [K, K], randomWeights(K * K, 10))] }), { '': 17 }), { x: new ort.Tensor('float32', mixed[1]!.x!.values as Float32Array, [ROWS, K]) })).a!;
    expectClose(got.get('W4')!.sumSq, reference(a, K).sumSq);
    expect(sources.get(layers[2]!)!.source).toBe("input 'a' captured inside If 'rate_if' else_branch on 1 of 3 batches");
  });

  it('gptq inside the branches beats the calibration-free search, the written model keeps its Ifs and runs, and the report says where calibration came from', async () => {
    const model = ifModel(ROWS);
    const held = batch(inputRows(ROWS, 31), 16000n);
    const float = (await run(model, feeds(held))).y!;
    const err = async (m: ModelProto): Promise<number> => {
      const y = (await run(m, feeds(held))).y!;
      let num = 0;
      let den = 0;
      for (let i = 0; i < y.length; i++) ((num += (y[i]! - float[i]!) ** 2), (den += float[i]! ** 2));
      return Math.sqrt(num / den);
    };
    const options: QuantizeOptionsInput = { mode: 'weight-only', dtype: 'int3', blockSize: 32, opTypes: ['MatMul'] };
    const gptq = await quantizeModel(model, { ...options, method: 'gptq' }, { runModel: createOrtRunner(), calibrationData: () => cal });
    const search = await quantizeModel(model, { ...options, method: 'search' }, {});
    const report = new Map(gptq.report.nodes.map((n) => [n.node, n]));
    for (const name of ['mm_w0', 'mm_w1', 'mm_w2']) expect(report.get(name)).toMatchObject({ status: 'quantized', method: 'gptq' });
    expect(report.get('mm_w2')).toMatchObject({ calibration: "'W2': input 't' captured inside If 'rate_if' then_branch > If 'inner_if' then_branch on 2 of 2 batches" });
    expect(report.get('mm_w4')).toMatchObject({ method: 'search', calibration: "'W4': calibration-free: no calibration batch takes the else_branch of If 'rate_if'" });
    expect(search.report.nodes.find((n) => n.node === 'mm_w2')).toMatchObject({ method: 'search' });
    // Three of the five weights had inputs captured; the other two sit in branches no batch takes.
    expect((gptq.report as { calibration?: unknown }).calibration).toEqual({ batches: 2, layers: 3, passes: 2, sequential: true, floatTargets: false });
    const written = encodeModel(gptq.model);
    expect(gptq.model.graph!.node.filter((n) => n.opType === 'If').map((n) => n.name)).toEqual(['rate_if']);
    expect(findNode(gptq.model.graph!, 'inner_if')?.opType).toBe('If');
    expect((await run(written, feeds(batch(inputRows(ROWS, 32), 8000n)))).y!.length).toBe(ROWS * N);
    const eg = await err(gptq.model);
    const es = await err(search.model);
    expect(eg).toBeLessThan(es);
  });

  it('says a weight inside a Loop body is calibration-free', async () => {
    const body = makeGraph({
      name: 'body',
      nodes: [makeNode('MatMul', ['v_in', 'WL'], ['v_out'], { name: 'mm_loop' }), makeNode('Identity', ['cond_in'], ['cond_out'])],
      inputs: [makeValueInfo('i', 'int64', []), makeValueInfo('cond_in', 'bool', []), makeValueInfo('v_in', 'float32', ['B', K])],
      outputs: [makeValueInfo('cond_out', 'bool', []), makeValueInfo('v_out', 'float32', ['B', K])],
      initializers: [makeTensor('WL', 'float32', [K, K], randomWeights(K * K, 40))],
    });
    const m = makeModel(
      makeGraph({
        nodes: [makeNode('Loop', ['trips', '', 'x'], ['y'], { name: 'loop', attributes: { body } })],
        inputs: [makeValueInfo('x', 'float32', ['B', K])],
        outputs: [makeValueInfo('y', 'float32', ['B', K])],
        initializers: [makeTensor('trips', 'int64', [], new BigInt64Array([2n]))],
      }),
      { '': 17 },
    );
    const q = await quantizeModel(m, { mode: 'weight-only', dtype: 'int4', blockSize: 32, method: 'gptq', opTypes: ['MatMul'] }, { runModel: createOrtRunner(), calibrationData: () => [{ x: cal[0]!.x! }] });
    expect(q.report.nodes[0]).toMatchObject({ node: 'mm_loop', method: 'search', calibration: "'WL': calibration-free: inside the body of Loop 'loop', whose values change per iteration and cannot be graph outputs" });
  });
});

describe('LSTM weights inside an If branch', () => {
  const T = 5;
  const B = 3;
  const I = 16;
  const H = 8;
  const W = randomWeights(2 * 4 * H * I, 51);
  const R = randomWeights(2 * 4 * H * H, 52);
  const bias = randomWeights(2 * 8 * H, 53);
  const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

  /** ONNX LSTM (gates i, o, f, c; default activations) of one direction; returns h_{t−1} of every step and batch entry, rows [T·B, H]. */
  function previousStates(x: Float32Array, h0: Float32Array, c0: Float32Array, d: number): Float32Array {
    const reverse = d === 1;
    const w = W.subarray(d * 4 * H * I, (d + 1) * 4 * H * I);
    const r = R.subarray(d * 4 * H * H, (d + 1) * 4 * H * H);
    const bs = bias.subarray(d * 8 * H, (d + 1) * 8 * H);
    const out: number[] = [];
    for (let b = 0; b < B; b++) {
      let h = Array.from(h0.subarray((d * B + b) * H, (d * B + b + 1) * H));
      let c = Array.from(c0.subarray((d * B + b) * H, (d * B + b + 1) * H));
      for (let s = 0; s < T; s++) {
        const t = reverse ? T - 1 - s : s;
        out.push(...h);
        const gate = (g: number, j: number): number => {
          let v = bs[g * H + j]! + bs[4 * H + g * H + j]!;
          for (let k = 0; k < I; k++) v += x[(t * B + b) * I + k]! * w[(g * H + j) * I + k]!;
          for (let k = 0; k < H; k++) v += h[k]! * r[(g * H + j) * H + k]!;
          return v;
        };
        const next = Array.from({ length: H }, (_, j) => {
          const i = sigmoid(gate(0, j));
          const o = sigmoid(gate(1, j));
          const f = sigmoid(gate(2, j));
          const cc = f * c[j]! + i * Math.tanh(gate(3, j));
          return { h: o * Math.tanh(cc), c: cc };
        });
        h = next.map((n) => n.h);
        c = next.map((n) => n.c);
      }
    }
    return Float32Array.from(out);
  }

  function lstmModel(): ModelProto {
    // Y is not asked for (an empty output name): calibration names it in its copy.
    const lstm = makeNode('LSTM', ['X', 'W', 'R', 'Bias', '', 'h0', 'c0'], ['', 'Y_h'], { name: 'lstm', attributes: { hidden_size: H, direction: 'bidirectional' } });
    const then = makeGraph({
      name: 'then',
      nodes: [lstm],
      inputs: [],
      outputs: [makeValueInfo('Y_h', 'float32')],
      initializers: [makeTensor('W', 'float32', [2, 4 * H, I], W), makeTensor('R', 'float32', [2, 4 * H, H], R), makeTensor('Bias', 'float32', [2, 8 * H], bias)],
    });
    const otherwise = makeGraph({ name: 'else', nodes: [makeNode('Identity', ['h0'], ['h0_copy'])], inputs: [], outputs: [makeValueInfo('h0_copy', 'float32')] });
    return makeModel(
      makeGraph({
        nodes: [makeNode('If', ['run_lstm'], ['state'], { name: 'gate_if', attributes: { then_branch: then, else_branch: otherwise } })],
        inputs: [makeValueInfo('X', 'float32', [T, B, I]), makeValueInfo('run_lstm', 'bool', []), makeValueInfo('h0', 'float32', [2, B, H]), makeValueInfo('c0', 'float32', [2, B, H])],
        outputs: [makeValueInfo('state', 'float32')],
      }),
      { '': 17 },
    );
  }

  const cal = [0, 1].map((k): TensorMap => ({
    X: { name: 'X', dtype: 'float32', dims: [T, B, I], values: randomWeights(T * B * I, 60 + k) },
    run_lstm: { name: 'run_lstm', dtype: 'bool', dims: [], values: new Uint8Array([1]) },
    h0: { name: 'h0', dtype: 'float32', dims: [2, B, H], values: randomWeights(2 * B * H, 70 + k) },
    c0: { name: 'c0', dtype: 'float32', dims: [2, B, H], values: randomWeights(2 * B * H, 80 + k) },
  }));

  it("R's statistics are those of h(t-1) per direction, forward and reverse, as an LSTM recurrence computes them; W's those of the sequence", async () => {
    const model = lstmModel();
    const scope = allGraphs(indexGraph(model.graph!)).find((g) => g.graph.name === 'then')!;
    const node = scope.graph.node[0]!;
    const layer = (input: number, dims: number[], name: string): WeightLayer => ({
      node,
      ...layerInputOf(node, input, [dims], 8, scope)!,
      weights: [{ name, tensor: makeTensor(name, 'float32', dims, new Float32Array(dims.reduce((a, v) => a * v, 1))), scheme: { form: 'matmulnbits', dtype: 'int4', symmetric: true, blockSize: 32 }, use: undefined }],
    });
    const layers = [layer(1, [2, 4 * H, I], 'W'), layer(2, [2, 4 * H, H], 'R')];
    expect(layers[1]).toMatchObject({ cols: H, groups: 2, weightInput: 2, recurrent: { layout: 0, direction: 'bidirectional' } });
    const { stats: got, sources } = await captureLayerStats(model, layers, () => cal, { hessian: true });
    for (let d = 0; d < 2; d++) {
      const rows = Float32Array.from(cal.flatMap((b) => Array.from(previousStates(b.X!.values as Float32Array, b.h0!.values as Float32Array, b.c0!.values as Float32Array, d))));
      const want = reference(rows, H);
      const s = got.get('R')![d]!;
      expect(s.rows).toBe(2 * T * B);
      expectClose(s.sumSq, want.sumSq);
      expectClose(s.hessian!.hessian(), want.hessian);
    }
    const x = Float32Array.from(cal.flatMap((b) => Array.from(b.X!.values as Float32Array)));
    expectClose(got.get('W')![0]!.hessian!.hessian(), reference(x, I).hessian);
    expect(sources.get(layers[1]!)!.source).toBe("hidden states h(t-1) of LSTM 'lstm' (its Y output shifted one step, initial_h first) captured inside If 'gate_if' then_branch on 2 of 2 batches");
  });
});

describe('weights of the same name in sibling If branches', () => {
  it('are quantized each from its own values', async () => {
    const A = randomWeights(K * N, 90);
    const Bw = Float32Array.from(randomWeights(K * N, 91), (v) => 5 * v);
    const side = (name: string, w: Float32Array): GraphProto => branch(name, [makeNode('MatMul', ['x', 'W'], ['z'], { name: `mm_${name}` })], 'z', [makeTensor('W', 'float32', [K, N], w)]);
    const m = makeModel(
      makeGraph({
        nodes: [makeNode('If', ['pick'], ['y'], { name: 'pick_if', attributes: { then_branch: side('then', A), else_branch: side('else', Bw) } })],
        inputs: [makeValueInfo('x', 'float32', ['B', K]), makeValueInfo('pick', 'bool', [])],
        outputs: [makeValueInfo('y', 'float32', ['B', N])],
      }),
      { '': 17 },
    );
    const x = inputRows(8, 92);
    const f = (pick: boolean): Record<string, ort.Tensor> => ({ x: new ort.Tensor('float32', x, [8, K]), pick: new ort.Tensor('bool', new Uint8Array([pick ? 1 : 0]), []) });
    const q = await quantizeModel(m, { mode: 'weight-only', dtype: 'int4', blockSize: 32, method: 'hqq', opTypes: ['MatMul'] }, {});
    for (const pick of [true, false]) {
      const want = (await run(m, f(pick))).y!;
      const got = (await run(q.model, f(pick))).y!;
      let num = 0;
      let den = 0;
      for (let i = 0; i < want.length; i++) ((num += (got[i]! - want[i]!) ** 2), (den += want[i]! ** 2));
      // 4-bit rounding of the branch's own weight: a few percent; the other branch's weight: order 1.
      expect(Math.sqrt(num / den)).toBeLessThan(0.2);
    }
  });
});
