import type { ModelProto, TensorProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { makeTensor, readFloat32, readTensor, tensorDims } from '../../src/formats/onnx/tensor.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { randomWeights } from './models.js';
import { runOrt } from './run-ort.js';

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

function initializer(m: ModelProto, name: string): TensorProto {
  const t = m.graph!.initializer.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  return t;
}

/**
 * Dequantizes a Cast+Mul weight independently of quantkit: the codes times the scale, whose shape
 * [1, C, 1] puts one scale on each row of axis 1 (each gate unit of each direction), minus a zero
 * point when there is one.
 */
function castMulValues(m: ModelProto, weight: string): { values: Float32Array; maxStep: number } {
  const mul = m.graph!.node.find((n) => n.opType === 'Mul' && n.output[0] === weight)!;
  const cast = m.graph!.node.find((n) => n.opType === 'Cast' && mul.input.includes(n.output[0]!))!;
  const codes = readTensor(initializer(m, cast.input[0]!));
  const scale = initializer(m, mul.input[1]!);
  const s = readFloat32(scale);
  const [d, c, k] = codes.dims as [number, number, number];
  expect(tensorDims(scale)).toEqual([1, c, 1]);
  const q = codes.values as Int8Array;
  const out = new Float32Array(q.length);
  for (let i = 0; i < d; i++) for (let r = 0; r < c; r++) for (let j = 0; j < k; j++) out[(i * c + r) * k + j] = Math.fround(q[(i * c + r) * k + j]! * s[r]!);
  return { values: out, maxStep: Math.max(...s) };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
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
        expect(readTensor(initializer(q, 'W_quantized')).dims).toEqual([dirs, g, INPUT]);
        expect(q.graph!.initializer.some((t) => t.name === 'W' || t.name === 'R')).toBe(false);
        // The bias stays float.
        expect(initializer(q, 'B').dataType).toBe(1);

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
    const { report: chosen } = await quantizeModel(makeModel(g, { '': 17 }), { perChannel: true });
    expect(chosen.nodes).toMatchObject([{ node: 'cell', status: 'quantized', tensors: ['W', 'R'] }]);
  });
});
