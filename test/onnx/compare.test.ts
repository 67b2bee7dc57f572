import { clone } from '@bufbuild/protobuf';
import type { ModelProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { QuantError } from '../../src/core/errors.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { makeValueInfo } from '../../src/formats/onnx/builders.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { comparisonError, isClassifierLike, OutputMetricsAccumulator } from '../../src/onnx/analysis/compare-metrics.js';
import { checkComparable, compareModels } from '../../src/onnx/analysis/compare-models.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { batchOf, classifierModel, f32, threeLayerModel } from './compare-fixtures.js';
import { mlpModel } from './models.js';

const run = createOrtRunner();

/** Outputs of one run through the same runner compareModels uses (so graph optimizations match). */
async function runOnce(m: ModelProto, x: Float32Array, dims: number[]): Promise<Record<string, Float32Array>> {
  let out: Record<string, Float32Array> = {};
  await run(encodeModel(m), [{ x: f32('x', dims, x) }], (o) => {
    out = Object.fromEntries(Object.entries(o).map(([k, t]) => [k, t.values as Float32Array]));
  });
  return out;
}

/** The figures of compare-metrics, computed directly in float64 over one pair of arrays. */
function direct(a: Float32Array, b: Float32Array) {
  let maxAbs = 0;
  let se = 0;
  let a2 = 0;
  let b2 = 0;
  let ab = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    se += d * d;
    a2 += a[i]! ** 2;
    b2 += b[i]! ** 2;
    ab += a[i]! * b[i]!;
  }
  return { maxAbs, relRms: Math.sqrt(se / a2), cosine: ab / Math.sqrt(a2 * b2), sqnr: 10 * Math.log10(a2 / se) };
}

function argmax(v: Float32Array, base: number, c: number): number {
  let best = 0;
  for (let j = 1; j < c; j++) if (v[base + j]! > v[base + best]!) best = j;
  return best;
}

describe('OutputMetricsAccumulator', () => {
  it('accumulates batches into the figures of the concatenated arrays', () => {
    const a1 = new Float32Array([1, -2, 3, 0.5]);
    const b1 = new Float32Array([1.1, -2, 2.5, 0.5]);
    const a2 = new Float32Array([4, 0]);
    const b2 = new Float32Array([3, 0.25]);
    const acc = new OutputMetricsAccumulator('y', false);
    acc.add(f32('y', [4], a1), f32('y', [4], b1));
    acc.add(f32('y', [2], a2), f32('y', [2], b2));
    const m = acc.result();
    const d = direct(new Float32Array([...a1, ...a2]), new Float32Array([...b1, ...b2]));
    expect(m.maxAbsError).toBeCloseTo(1, 12);
    expect(m.relativeRmsError).toBeCloseTo(d.relRms, 12);
    expect(m.cosine).toBeCloseTo(d.cosine, 12);
    expect(m.sqnrDb).toBeCloseTo(d.sqnr, 10);
    expect(m.elements).toBe(6);
    expect(m.classifier).toBeNull();
  });

  it('gives identical outputs error 0, SQNR Infinity, cosine 1; a zero reference against a nonzero candidate is Infinity', () => {
    const same = new OutputMetricsAccumulator('y', false);
    same.add(f32('y', [3], new Float32Array([1, 2, 3])), f32('y', [3], new Float32Array([1, 2, 3])));
    expect(same.result()).toMatchObject({ relativeRmsError: 0, sqnrDb: Infinity, cosine: 1, maxAbsError: 0 });
    const zero = new OutputMetricsAccumulator('y', false);
    zero.add(f32('y', [2], new Float32Array([0, 0])), f32('y', [2], new Float32Array([0, 1])));
    expect(zero.result()).toMatchObject({ relativeRmsError: Infinity, cosine: 0 });
  });

  it('takes the same infinity on both sides as agreement, not as a NaN error', () => {
    const acc = new OutputMetricsAccumulator('y', false);
    acc.add(f32('y', [4], new Float32Array([-Infinity, 3, Infinity, 4])), f32('y', [4], new Float32Array([-Infinity, 3, Infinity, 4])));
    const m = acc.result();
    expect(m).toMatchObject({ relativeRmsError: 0, sqnrDb: Infinity, cosine: 1, maxAbsError: 0, elements: 2, nanMismatches: 0 });
    expect(comparisonError([m])).toBe(0);
  });

  it('counts NaN mismatches apart and makes the comparison error Infinity', () => {
    const acc = new OutputMetricsAccumulator('y', false);
    acc.add(f32('y', [3], new Float32Array([NaN, 1, NaN])), f32('y', [3], new Float32Array([NaN, 1, 2])));
    const m = acc.result();
    expect(m.nanMismatches).toBe(1);
    expect(m.relativeRmsError).toBe(0);
    expect(comparisonError([m])).toBe(Infinity);
  });

  it('computes top-1 and top-5 agreement per row (ties to the first index)', () => {
    // Two rows of 6 classes. Row 0: reference argmax 2, candidate argmax 2. Row 1: reference argmax 0, candidate ranks class 0 sixth.
    const a = new Float32Array([0, 1, 5, 2, 0, 0, /**/ 9, 1, 2, 3, 4, 5]);
    const b = new Float32Array([0, 1, 5, 5, 0, 0, /**/ 0, 1, 2, 3, 4, 5]);
    const acc = new OutputMetricsAccumulator('p', true);
    acc.add(f32('p', [2, 6], a), f32('p', [2, 6], b));
    // Reference top classes 2 and 0, once each: the majority is the lower index, 2's row leaves the other.
    expect(acc.result().classifier).toEqual({ classes: 6, rows: 2, top1Agreement: 0.5, top5Agreement: 0.5, majorityClass: 0, majorityShare: 0.5, nonMajorityRows: 1, nonMajorityTop1Agreement: 1 });
    const small = new OutputMetricsAccumulator('p', true);
    small.add(f32('p', [1, 3], new Float32Array([1, 2, 3])), f32('p', [1, 3], new Float32Array([3, 2, 1])));
    expect(small.result().classifier).toEqual({ classes: 3, rows: 1, top1Agreement: 0, top5Agreement: null, majorityClass: 2, majorityShare: 1, nonMajorityRows: 0, nonMajorityTop1Agreement: null });
  });

  it('gives top-1 agreement over the rows whose reference class is not the most frequent, so a candidate answering the majority everywhere scores 0 there', () => {
    // 5 rows of 3 classes; the reference's top classes are 0 0 0 1 2 (0 is the majority, like a CTC blank).
    const a = new Float32Array([9, 0, 0, /**/ 9, 0, 0, /**/ 9, 0, 0, /**/ 0, 9, 0, /**/ 0, 0, 9]);
    const blank = new Float32Array([1, 0, 0, /**/ 1, 0, 0, /**/ 1, 0, 0, /**/ 1, 0, 0, /**/ 1, 0, 0]);
    const acc = new OutputMetricsAccumulator('p', true);
    acc.add(f32('p', [5, 3], a), f32('p', [5, 3], blank));
    expect(acc.result().classifier).toMatchObject({ top1Agreement: 0.6, majorityClass: 0, majorityShare: 0.6, nonMajorityRows: 2, nonMajorityTop1Agreement: 0 });
    // Over two batches: a candidate right on row 1 (class 1) and wrong on the majority rows.
    const half = new Float32Array([0, 1, 0, /**/ 1, 0, 0, /**/ 1, 0, 0, /**/ 0, 1, 0, /**/ 1, 0, 0]);
    const two = new OutputMetricsAccumulator('p', true);
    two.add(f32('p', [5, 3], a), f32('p', [5, 3], half));
    two.add(f32('p', [5, 3], a), f32('p', [5, 3], a));
    expect(two.result().classifier).toMatchObject({ rows: 10, top1Agreement: 0.8, majorityShare: 0.6, nonMajorityRows: 4, nonMajorityTop1Agreement: 0.75 });
  });

  it('rejects a candidate of another shape', () => {
    const acc = new OutputMetricsAccumulator('y', false);
    expect(() => acc.add(f32('y', [2, 2], new Float32Array(4)), f32('y', [4], new Float32Array(4)))).toThrow(/output 'y': expected the candidate's shape to equal the reference's \[2, 2\], got \[4\]/);
  });

  it('decides classifier-likeness from rank, last dimension and softmax', () => {
    expect(isClassifierLike([8, 10], false)).toBe(true);
    expect(isClassifierLike([8, 1], false)).toBe(false);
    expect(isClassifierLike([1, 40, 6625], true)).toBe(true);
    expect(isClassifierLike([2, 1, 64], false)).toBe(false);
    expect(isClassifierLike([1, 1, 96, 160], true)).toBe(false);
  });
});

describe('compareModels', () => {
  it('reports per-output figures equal to a direct computation on onnxruntime outputs, and per-layer figures', async () => {
    const a = mlpModel();
    const { model: b } = await quantizeModel(a, { dtype: 'int8', perChannel: false });
    const batch = batchOf([1, 64], 9);
    const cmp = await compareModels(a, b, run, () => [batch]);
    const xv = batch.x!.values as Float32Array;
    const ya = (await runOnce(a, xv, [1, 64])).y!;
    const yb = (await runOnce(b, xv, [1, 64])).y!;
    const d = direct(ya, yb);
    const y = cmp.outputs[0]!;
    expect(y.name).toBe('y');
    expect(y.maxAbsError).toBeCloseTo(d.maxAbs, 12);
    expect(y.relativeRmsError).toBeCloseTo(d.relRms, 12);
    expect(y.cosine).toBeCloseTo(d.cosine, 12);
    expect(y.sqnrDb).toBeCloseTo(d.sqnr, 9);
    expect(y.relativeRmsError).toBeGreaterThan(0);
    expect(cmp.error).toBe(y.relativeRmsError);
    expect(cmp.batches).toBe(1);
    // The MatMul's output h0 is compared by name; the Gemm's is the graph output, already covered.
    expect(cmp.layers.map((l) => [l.node, l.opType, l.output])).toEqual([['mm', 'MatMul', 'h0']]);
    const ha = await runOnce(withOutput(a, 'h0'), xv, [1, 64]);
    const hb = await runOnce(withOutput(b, 'h0'), xv, [1, 64]);
    expect(cmp.layers[0]!.relativeRmsError).toBeCloseTo(direct(ha.h0!, hb.h0!).relRms, 12);
  });

  it('gives top-1/top-5 agreement for a softmax output and for a 2-D [N, C] output', async () => {
    const a = classifierModel();
    const { model: b } = await quantizeModel(a, { dtype: 'int4', blockSize: 16 });
    const batch = batchOf([8, 32], 3);
    const cmp = await compareModels(a, b, run, () => [batch, batchOf([8, 32], 4)]);
    const probs = cmp.outputs.find((o) => o.name === 'probs')!;
    let agree = 0;
    for (const s of [3, 4]) {
      const xv = batchOf([8, 32], s).x!.values as Float32Array;
      const pa = (await runOnce(a, xv, [8, 32])).probs!;
      const pb = (await runOnce(b, xv, [8, 32])).probs!;
      for (let r = 0; r < 8; r++) if (argmax(pa, r * 10, 10) === argmax(pb, r * 10, 10)) agree++;
    }
    expect(probs.classifier).toMatchObject({ classes: 10, rows: 16, top1Agreement: agree / 16 });
    expect(probs.classifier!.top5Agreement).toBeGreaterThanOrEqual(probs.classifier!.top1Agreement);
    expect(cmp.outputs.find((o) => o.name === 'logits')!.classifier).not.toBeNull();
    expect(cmp.batches).toBe(2);
  });

  it('rejects models with different outputs or inputs, naming both', async () => {
    const a = threeLayerModel();
    const b = threeLayerModel();
    b.graph!.output[0]!.name = 'h2';
    expect(() => checkComparable(a, b, ['a.onnx', 'b.onnx'])).toThrow(/models with different outputs cannot be compared: expected the same output names, got a\.onnx: y and b\.onnx: h2/);
    const c = threeLayerModel();
    c.graph!.input.push(makeValueInfo('extra', 'float32', [1]));
    await expect(compareModels(a, c, run, () => [batchOf([4, 64], 1)])).rejects.toThrow(/different inputs/);
    const err = await compareModels(a, b, run, () => []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuantError);
  });

  it('rejects an empty batch source', async () => {
    const a = threeLayerModel();
    await expect(compareModels(a, a, run, () => [])).rejects.toThrow(/no input batches/);
  });

  it('compares a model with itself as exactly equal', async () => {
    const a = threeLayerModel();
    const cmp = await compareModels(a, a, run, () => [batchOf([4, 64], 2, true)]);
    expect(cmp.error).toBe(0);
    expect(cmp.layers.map((l) => l.relativeRmsError)).toEqual([0, 0]);
    expect(encodeModel(a).length).toBeGreaterThan(0);
  });
});

function withOutput(m: ModelProto, name: string): ModelProto {
  const c = clone(ModelProtoSchema, m);
  c.graph!.output.push(makeValueInfo(name, 'float32', [1, 48]));
  return c;
}
