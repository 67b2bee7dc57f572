import * as ort from 'onnxruntime-node';
import type { ModelProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { makeTensor, readFloat32, readTensor, tensorDims } from '../../src/formats/onnx/tensor.js';
import { lowerDynamicLstm } from '../../src/onnx/modes/dynamic-lstm.js';
import { indexGraph, NameGenerator } from '../../src/onnx/graph/graph.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { randomWeights } from './models.js';
import { runOrt } from './run-ort.js';
import { init, maxAbsDiff } from './weight-helpers.js';

type Cell = 'LSTM' | 'GRU' | 'RNN';
const GATES: Record<Cell, number> = { LSTM: 4, GRU: 3, RNN: 1 };
const SEQ = 6;
const BATCH = 2;
const INPUT = 10;
const HIDDEN = 8;

/** X [SEQ, BATCH, INPUT] → one cell (forward or bidirectional) with W, R and B initializers → Y, Y_h. */
function cellModel(op: Cell, dirs: 1 | 2): ModelProto {
  const g = GATES[op] * HIDDEN;
  const g2 = makeGraph({
    nodes: [makeNode(op, ['X', 'W', 'R', 'B'], ['Y', 'Y_h'], { name: 'cell', attributes: { hidden_size: HIDDEN, ...(dirs === 2 && { direction: 'bidirectional' }) } })],
    inputs: [makeValueInfo('X', 'float32', [SEQ, BATCH, INPUT])],
    outputs: [makeValueInfo('Y', 'float32', [SEQ, dirs, BATCH, HIDDEN]), makeValueInfo('Y_h', 'float32', [dirs, BATCH, HIDDEN])],
    initializers: [
      makeTensor('W', 'float32', [dirs, g, INPUT], randomWeights(dirs * g * INPUT, 11).map((v) => v * 0.6)),
      makeTensor('R', 'float32', [dirs, g, HIDDEN], randomWeights(dirs * g * HIDDEN, 12).map((v) => v * 0.6)),
      makeTensor('B', 'float32', [dirs, 2 * g], randomWeights(dirs * 2 * g, 13).map((v) => v * 0.2)),
    ],
  });
  return makeModel(g2, { '': 17 });
}

const X = { X: { dims: [SEQ, BATCH, INPUT], data: randomWeights(SEQ * BATCH * INPUT, 14) } };

/**
 * Dequantizes a Cast+Mul weight independently of quantkit: the codes times the scale, whose shape
 * [1, C, 1] puts one scale on each row of axis 1 (each gate unit of each direction), minus a zero
 * point when there is one.
 */
function castMulValues(m: ModelProto, weight: string): { values: Float32Array; maxStep: number } {
  const mul = m.graph!.node.find((n) => n.opType === 'Mul' && n.output[0] === weight)!;
  const cast = m.graph!.node.find((n) => n.opType === 'Cast' && mul.input.includes(n.output[0]!))!;
  const codes = readTensor(init(m, cast.input[0]!));
  const scale = init(m, mul.input[1]!);
  const s = readFloat32(scale);
  const [d, c, k] = codes.dims as [number, number, number];
  expect(tensorDims(scale)).toEqual([1, c, 1]);
  const q = codes.values as Int8Array;
  const out = new Float32Array(q.length);
  for (let i = 0; i < d; i++) for (let r = 0; r < c; r++) for (let j = 0; j < k; j++) out[(i * c + r) * k + j] = Math.fround(q[(i * c + r) * k + j]! * s[r]!);
  return { values: out, maxStep: Math.max(...s) };
}

describe('weight-only LSTM, GRU and RNN', () => {
  for (const op of ['LSTM', 'GRU', 'RNN'] as const) {
    for (const dirs of [1, 2] as const) {
      it(`${op} ${dirs === 2 ? 'bidirectional' : 'forward'}: W and R are quantized by default, per gate unit, and run as float math on the dequantized weights`, async () => {
        const m = cellModel(op, dirs);
        const { model: q, report } = await quantizeModel(m, { perChannel: true });
        expect(report.nodes).toEqual([
          { node: 'cell', opType: op, status: 'quantized', tensors: ['W', 'R'], dtype: 'int8', granularity: 'per-channel', axis: 1, form: 'Cast+Mul' },
        ]);
        const g = GATES[op] * HIDDEN;
        expect(readTensor(init(q, 'W_quantized')).dims).toEqual([dirs, g, INPUT]);
        expect(q.graph!.initializer.some((t) => t.name === 'W' || t.name === 'R')).toBe(false);
        // The bias stays float.
        expect(init(q, 'B').dataType).toBe(1);

        // Exact reference: the float model with W and R replaced by the dequantized values. The
        // quantized model computes the same float32 weights (Cast and Mul of constants), so the
        // same float kernel gives the same outputs, on any CPU.
        const w = castMulValues(q, 'W');
        const r = castMulValues(q, 'R');
        const asFloat = cellModel(op, dirs);
        asFloat.graph!.initializer = asFloat.graph!.initializer.map((t) => (t.name === 'W' ? makeTensor('W', 'float32', tensorDims(t), w.values) : t.name === 'R' ? makeTensor('R', 'float32', tensorDims(t), r.values) : t));
        const got = await runOrt(q, X);
        const exact = await runOrt(asFloat, X);
        expect(maxAbsDiff(got.Y!, exact.Y!)).toBeLessThanOrEqual(1e-6);
        expect(maxAbsDiff(got.Y_h!, exact.Y_h!)).toBeLessThanOrEqual(1e-6);

        // Against the float model: each weight moved by at most half a step, so a gate's
        // pre-activation moves by at most (step/2)·(Σ|x| + Σ|h|) with |h| <= 1; sigmoid and tanh
        // are 1-Lipschitz, and over SEQ steps the error grows at most linearly here (|R| small).
        const ref = await runOrt(m, X);
        const sumX = Math.max(...Array.from({ length: SEQ * BATCH }, (_, i) => X.X.data.subarray(i * INPUT, (i + 1) * INPUT).reduce((s, v) => s + Math.abs(v), 0)));
        const preact = (w.maxStep / 2) * sumX + (r.maxStep / 2) * HIDDEN;
        const bound = SEQ * 2 * preact;
        const diff = maxAbsDiff(got.Y!, ref.Y!);
        expect(diff).toBeGreaterThan(0);
        expect(diff).toBeLessThanOrEqual(bound);
      });
    }
  }

  it('lists a recurrent node whose op type was not chosen, with the reason, also inside an If branch', async () => {
    const m = cellModel('LSTM', 1);
    const { report } = await quantizeModel(m, { opTypes: ['MatMul', 'Conv'] });
    expect(report.nodes).toEqual([
      { node: 'cell', opType: 'LSTM', status: 'float', reason: "op type LSTM was not chosen (op types: MatMul,Conv); weights 'W', 'R' stay float" },
    ]);
    // The same LSTM inside an If's then-branch, its weights taken from the outer scope.
    const inner = cellModel('LSTM', 1).graph!;
    const thenBranch = makeGraph({ name: 'then', nodes: inner.node, inputs: [], outputs: inner.output, initializers: [] });
    const elseBranch = makeGraph({ name: 'else', nodes: [makeNode('Identity', ['Y0'], ['Y_e']), makeNode('Identity', ['H0'], ['H_e'])], inputs: [], outputs: [makeValueInfo('Y_e', 'float32'), makeValueInfo('H_e', 'float32')], initializers: [] });
    const g = makeGraph({
      nodes: [makeNode('If', ['cond'], ['Y', 'Y_h'], { name: 'branch', attributes: { then_branch: thenBranch, else_branch: elseBranch } })],
      inputs: [makeValueInfo('cond', 'bool', []), makeValueInfo('X', 'float32', [SEQ, BATCH, INPUT])],
      outputs: inner.output,
      initializers: [...inner.initializer, makeTensor('Y0', 'float32', [1], new Float32Array(1)), makeTensor('H0', 'float32', [1], new Float32Array(1))],
    });
    const { report: nested } = await quantizeModel(makeModel(g, { '': 17 }), { opTypes: ['Conv'] });
    expect(nested.nodes).toEqual([{ node: 'cell', opType: 'LSTM', status: 'float', reason: "op type LSTM was not chosen (op types: Conv); weights 'W', 'R' stay float (inside a subgraph of branch)" }]);
    // Chosen (the default), it is quantized there, and the model still runs.
    const { model: q, report: chosen } = await quantizeModel(makeModel(g, { '': 17 }), { perChannel: true });
    expect(chosen.nodes).toMatchObject([{ node: 'cell', status: 'quantized', tensors: ['W', 'R'] }]);
    // The Cast+Mul nodes sit in the main graph and keep the weights' names, which the branch reads from the outer scope.
    expect(q.graph!.node.map((n) => n.opType)).toEqual(['Cast', 'Mul', 'Cast', 'Mul', 'If']);
    const session = await ort.InferenceSession.create(encodeModel(q));
    try {
      const out = await session.run({ cond: new ort.Tensor('bool', new Uint8Array([1]), []), X: new ort.Tensor('float32', X.X.data, X.X.dims) });
      const ref = await runOrt(cellModel('LSTM', 1), X);
      expect(maxAbsDiff(out.Y!.data as Float32Array, ref.Y!)).toBeLessThan(0.05);
    } finally {
      await session.release();
    }
  });
});

/** Round half to even, as onnxruntime's quantization (and ONNX QuantizeLinear) rounds. */
function roundEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** uint8 quantization of a whole matrix as DynamicQuantizeLSTM does it: range including 0, 255 steps. */
function quantizeActivation(a: Float64Array | Float32Array): { q: Int32Array; scale: number; zp: number } {
  let lo = 0;
  let hi = 0;
  for (const v of a) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const scale = Math.fround((hi - lo) / 255);
  if (scale === 0) return { q: new Int32Array(a.length), scale: 0, zp: 0 };
  const zp = Math.min(255, Math.max(0, roundEven(-lo / scale)));
  const q = new Int32Array(a.length);
  for (let i = 0; i < a.length; i++) q[i] = Math.min(255, Math.max(0, roundEven(a[i]! / scale) + zp));
  return { q, scale, zp };
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/**
 * A reference of DynamicQuantizeLSTM (forward, gates i, o, f, c): X over all steps is quantized to
 * uint8 as one matrix, each step's hidden state one batch row at a time, the integer products summed exactly, and
 * scaled by activation scale × weight scale per gate unit; the cell math in float32 as the kernel's.
 */
function referenceDynamicLstm(x: Float32Array, w: { q: Int32Array; zp: number; scale: Float32Array }, r: { q: Int32Array; zp: number; scale: Float32Array }, b: Float32Array): Float64Array {
  const G = 4 * HIDDEN;
  const gemm = (a: Float64Array | Float32Array, rows: number, k: number, wt: typeof w): Float64Array => {
    const qa = quantizeActivation(a);
    const out = new Float64Array(rows * G);
    for (let m = 0; m < rows; m++) {
      for (let n = 0; n < G; n++) {
        let acc = 0;
        // Weights stored [K, 4H] (transposed), as the op takes them.
        for (let j = 0; j < k; j++) acc += (qa.q[m * k + j]! - qa.zp) * (wt.q[j * G + n]! - wt.zp);
        out[m * G + n] = Math.fround(acc * Math.fround(qa.scale * wt.scale[n]!));
      }
    }
    return out;
  };
  const xw = gemm(x, SEQ * BATCH, INPUT, w);
  const y = new Float64Array(SEQ * BATCH * HIDDEN);
  let h = new Float64Array(BATCH * HIDDEN);
  const c = new Float64Array(BATCH * HIDDEN);
  for (let t = 0; t < SEQ; t++) {
    // The state is quantized one batch row at a time (its own range per sequence).
    const hr = new Float64Array(BATCH * G);
    for (let bi = 0; bi < BATCH; bi++) hr.set(gemm(h.subarray(bi * HIDDEN, (bi + 1) * HIDDEN), 1, HIDDEN, r), bi * G);
    const next = new Float64Array(BATCH * HIDDEN);
    for (let bi = 0; bi < BATCH; bi++) {
      for (let u = 0; u < HIDDEN; u++) {
        const f32 = Math.fround;
        const pre = (gate: number) => f32(f32(xw[(t * BATCH + bi) * G + gate * HIDDEN + u]! + hr[bi * G + gate * HIDDEN + u]!) + f32(b[gate * HIDDEN + u]! + b[G + gate * HIDDEN + u]!));
        const i = f32(sigmoid(pre(0)));
        const o = f32(sigmoid(pre(1)));
        const f = f32(sigmoid(pre(2)));
        const g = f32(Math.tanh(pre(3)));
        c[bi * HIDDEN + u] = f32(f32(f * c[bi * HIDDEN + u]!) + f32(i * g));
        next[bi * HIDDEN + u] = f32(o * f32(Math.tanh(c[bi * HIDDEN + u]!)));
      }
    }
    h = next;
    y.set(h, t * BATCH * HIDDEN);
  }
  return y;
}

describe('dynamic LSTM as com.microsoft DynamicQuantizeLSTM', () => {
  it('stores W and R transposed with per-gate-unit scales, and computes what an exact integer reference computes', async () => {
    const m = cellModel('LSTM', 1);
    // uint8 weights (one zero point, 128): onnxruntime's U8U8 kernels are exact on every x86 and ARM CPU.
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic', dtype: 'uint8', symmetric: true, perChannel: true });
    expect(report.nodes).toEqual([
      { node: 'cell', opType: 'LSTM', status: 'quantized', tensors: ['W', 'R'], dtype: 'uint8', granularity: 'per-channel', axis: 1, form: 'com.microsoft.DynamicQuantizeLSTM' },
    ]);
    const node = q.graph!.node[0]!;
    expect(node).toMatchObject({ opType: 'DynamicQuantizeLSTM', domain: 'com.microsoft' });
    expect(q.graph!.node.some((n) => n.opType === 'DynamicQuantizeLinear')).toBe(false);
    expect(q.graph!.initializer.some((t) => t.name === 'W' || t.name === 'R')).toBe(false);
    const wq = readTensor(init(q, node.input[1]!));
    expect(wq.dims).toEqual([1, INPUT, 4 * HIDDEN]);
    expect(readTensor(init(q, node.input[2]!)).dims).toEqual([1, HIDDEN, 4 * HIDDEN]);
    expect(readTensor(init(q, node.input[8]!)).dims).toEqual([1, 4 * HIDDEN]);
    const weight = (codes: number, scale: number, zp: number) => {
      const z = readTensor(init(q, node.input[zp]!)).values as Uint8Array;
      expect(new Set(z)).toEqual(new Set([128]));
      return { q: Int32Array.from(readTensor(init(q, node.input[codes]!)).values as Uint8Array), zp: 128, scale: readFloat32(init(q, node.input[scale]!)) };
    };
    const w = weight(1, 8, 9);
    const r = weight(2, 10, 11);
    // The codes dequantize to the float weights within half a step (checks the transposition).
    const W = readFloat32(init(m, 'W'));
    for (let g = 0; g < 4 * HIDDEN; g++) for (let j = 0; j < INPUT; j++) expect(Math.abs((w.q[j * 4 * HIDDEN + g]! - 128) * w.scale[g]! - W[g * INPUT + j]!)).toBeLessThanOrEqual(w.scale[g]! / 2 + 1e-7);

    const ref = referenceDynamicLstm(X.X.data, w, r, readFloat32(init(m, 'B')));
    const got = (await runOrt(q, X)).Y!;
    const float = (await runOrt(m, X)).Y!;
    // Tolerance derived from the reference: the kernel's sigmoid/tanh approximations and float32
    // sums may put one activation a code away from the reference's (x / scale at a tie), which moves
    // a pre-activation by at most scale_x · max|W| (scale_h · max|R| for the state) and the output by
    // no more (the gates are 1-Lipschitz). Far below the quantization error itself.
    let hi = 0;
    for (const v of X.X.data) hi = Math.max(hi, Math.abs(v));
    const maxW = Math.max(...Array.from(W, Math.abs));
    const maxR = Math.max(...Array.from(readFloat32(init(m, 'R')), Math.abs));
    const tol = ((2 * hi) / 255) * maxW + (2 / 255) * maxR + 1e-6;
    const refDiffs = Array.from(got, (v, i) => Math.abs(v - ref[i]!)).sort((p, q) => p - q);
    const floatDiffs = Array.from(got, (v, i) => Math.abs(v - float[i]!)).sort((p, q) => p - q);
    expect(refDiffs.at(-1)).toBeLessThanOrEqual(tol);
    // Such a code flip changes one batch row from its step on; without one (the usual case) the
    // reference agrees to float32 rounding, so most outputs are that close, while float differs
    // from the integer path by far more: the test tells the integer path from a float one.
    const median = (a: number[]) => a[a.length >> 1]!;
    expect(median(refDiffs)).toBeLessThanOrEqual(1e-5);
    expect(median(floatDiffs)).toBeGreaterThan(1e-4);
  });

  it('GRU and RNN stay float in dynamic mode with the reason', async () => {
    for (const op of ['GRU', 'RNN'] as const) {
      const { report } = await quantizeModel(cellModel(op, 1), { mode: 'dynamic' });
      expect(report.nodes).toEqual([{ node: 'cell', opType: op, status: 'float', reason: `${op} has no dynamic integer op in onnxruntime (DynamicQuantizeLSTM is for LSTM only): --mode weight-only quantizes its weights` }]);
    }
  });

  it('LSTM weights are symmetric whatever was asked (the kernel needs int8 zero points 0), and 7-bit with reduceRange', async () => {
    const m = cellModel('LSTM', 1);
    const { model: q } = await quantizeModel(m, { mode: 'dynamic', dtype: 'int8', symmetric: false, perChannel: true, target: 'x86-vnni' });
    const node = q.graph!.node[0]!;
    expect(readTensor(init(q, node.input[9]!)).values).toEqual(new Int8Array(4 * HIDDEN));
    expect(Math.max(...Array.from(readTensor(init(q, node.input[1]!)).values as Int8Array, Math.abs))).toBe(127);
    // The portable target (the default) asks for 7-bit int8 weights and the lowering follows it.
    const { model: portable } = await quantizeModel(m, { mode: 'dynamic', dtype: 'int8', perChannel: true });
    expect(Math.max(...Array.from(readTensor(init(portable, portable.graph!.node[0]!.input[1]!)).values as Int8Array, Math.abs))).toBe(64);
    // reduceRange (the portable target's 7-bit weights): |q| <= 64, so uint8 x int8 pair sums fit int16 without VNNI.
    const root = indexGraph(m.graph!);
    const lowered = lowerDynamicLstm(m.graph!.node[0]!, root, 8, { dtype: 'int8', symmetric: true, perChannel: true, reduceRange: true }, new NameGenerator(root));
    if (!lowered.ok) throw new Error(lowered.reason);
    const codes = lowered.initializers.filter((t) => t.tensor.dataType === 3 && t.tensor.dims.length === 3).map((t) => readTensor(t.tensor).values as Int8Array);
    expect(codes).toHaveLength(2);
    for (const c of codes) expect(Math.max(...Array.from(c, Math.abs))).toBe(64);
  });

  it('bidirectional, per tensor (one scale per direction): runs, close to float', async () => {
    const m = cellModel('LSTM', 2);
    const { model: q, report } = await quantizeModel(m, { mode: 'dynamic', dtype: 'uint8', perChannel: false });
    expect(report.nodes[0]).toMatchObject({ status: 'quantized', granularity: 'per-tensor', form: 'com.microsoft.DynamicQuantizeLSTM' });
    expect(readTensor(init(q, q.graph!.node[0]!.input[8]!)).dims).toEqual([2]);
    const got = (await runOrt(q, X)).Y!;
    const float = (await runOrt(m, X)).Y!;
    expect(maxAbsDiff(got, float)).toBeLessThan(0.1);
  });
});
