import { describe, expect, it } from 'vitest';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { autoPrecision } from '../../src/onnx/analysis/auto-precision.js';
import { planPrecisionMoves, precisionsAfter, predictedSteps } from '../../src/onnx/analysis/auto-precision-plan.js';
import { collectOutputs, compareModels } from '../../src/onnx/analysis/compare-models.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import type { LayerSensitivity, PrecisionResult } from '../../src/onnx/analysis/sensitivity.js';
import { batchOf, threeLayerModel } from './compare-fixtures.js';

const run = createOrtRunner();
const batches = () => [batchOf([4, 64], 5, true), batchOf([4, 64], 6, true)];

function measured(error: number, before: number, after: number): PrecisionResult {
  return { status: 'measured', error, cosine: 1, weightBytesBefore: before, weightBytesAfter: after, form: 'DequantizeLinear' };
}
function layer(node: string, int8?: PrecisionResult, int4?: PrecisionResult): LayerSensitivity {
  return { node, opType: 'MatMul', results: { ...(int8 && { int8 }), ...(int4 && { int4 }) } };
}

describe('planPrecisionMoves', () => {
  it('orders steps by squared error added per byte saved, each layer float -> int8 -> int4', () => {
    const moves = planPrecisionMoves([
      layer('a', measured(0.01, 1000, 250), measured(0.1, 1000, 130)),
      layer('b', measured(0.001, 1000, 250), measured(0.02, 1000, 130)),
    ]);
    expect(moves.map((m) => `${m.node}:${m.from}->${m.to}`)).toEqual(['b:float->int8', 'a:float->int8', 'b:int8->int4', 'a:int8->int4']);
    expect(moves[2]!.addedSquaredError).toBeCloseTo(0.02 ** 2 - 0.001 ** 2, 15);
    expect(moves[2]!.savedBytes).toBe(120);
    expect(precisionsAfter(moves, 3)).toEqual(new Map([['b', 'int4'], ['a', 'int8']]));
    // √(0.001² + 0.01²) ≈ 0.01005 fits 0.011; adding b's int4 step does not.
    expect(predictedSteps(moves, 0.011)).toBe(2);
    expect(predictedSteps(moves, 0)).toBe(0);
  });

  it('plans on the excess over the float model’s own error (the baseline), and predicts baseline + √Σ', () => {
    const moves = planPrecisionMoves([layer('a', measured(0.3, 1000, 250)), layer('b', measured(0.26, 1000, 250))], 0.25);
    expect(moves.map((m) => m.node)).toEqual(['b', 'a']);
    expect(moves[0]!.addedSquaredError).toBeCloseTo(0.01 ** 2, 15);
    expect(moves[1]!.addedSquaredError).toBeCloseTo(0.05 ** 2, 15);
    // 0.25 + √(0.01² + 0.05²) ≈ 0.301 misses 0.3 and fits 0.31; 0.25 + 0.01 fits 0.3.
    expect(predictedSteps(moves, 0.3, 0.25)).toBe(1);
    expect(predictedSteps(moves, 0.31, 0.25)).toBe(2);
    expect(predictedSteps(moves, 0.24, 0.25)).toBe(0);
    // Taken as errors of their own, 0.26 and 0.3 would add to √(0.26² + 0.3²) ≈ 0.4: one step at 0.31.
    expect(predictedSteps(planPrecisionMoves([layer('a', measured(0.3, 1000, 250)), layer('b', measured(0.26, 1000, 250))]), 0.31)).toBe(1);
  });

  it('skips int8 when int4 costs less per byte (int8 lies above the hull), and drops steps that save nothing or err without bound', () => {
    const moves = planPrecisionMoves([
      layer('c', measured(0.05, 1000, 250), measured(0.01, 1000, 130)),
      layer('d', measured(0.01, 100, 100)),
      layer('e', measured(Infinity, 1000, 250), { status: 'not-applicable', reason: 'x' }),
    ]);
    expect(moves.map((m) => `${m.node}:${m.from}->${m.to}`)).toEqual(['c:float->int4']);
  });
});

describe('autoPrecision', () => {
  it('keeps the fragile layer float, puts the int4-exact layer at int4, and the verified error stays under E', async () => {
    const model = threeLayerModel();
    const maxError = 0.02;
    const { model: q, report, quantizeReport } = await autoPrecision(model, run, batches, { maxError });
    const chosen = Object.fromEntries(report.layers.map((l) => [l.node, l.precision]));
    expect(chosen).toEqual({ fragile: 'float', exact4: 'int4', dense: 'int8' });
    expect(report.error).toBeLessThanOrEqual(maxError);
    // An independent comparison of the returned model agrees with the report.
    const cmp = await compareModels(model, q, run, batches, { layers: false });
    expect(cmp.error).toBeCloseTo(report.error, 12);
    expect(report.counts).toEqual({ int4: 1, int8: 1, float: 1 });
    expect(report.verifications.some((v) => v.steps === report.steps && v.accepted)).toBe(true);
    expect(report.verifications.filter((v) => v.steps > report.steps).every((v) => !v.accepted)).toBe(true);
    expect(report.weightBytesAfter).toBeLessThan(report.weightBytesBefore);
    expect(quantizeReport.dtype).toBe('mixed');
    expect(q.graph!.node.map((n) => n.opType)).toEqual(expect.arrayContaining(['MatMulNBits', 'Cast', 'Mul', 'MatMul']));
    const fragile = report.layers.find((l) => l.node === 'fragile')!;
    expect(fragile.reason).toMatch(/^float: int8 alone: error [0-9.]+, int4 alone: error [0-9.]+; .*past the \d+ steps whose verified error stayed within E = 0\.02/);
    expect(report.layers.find((l) => l.node === 'exact4')!.reason).toMatch(/^int4: .*its step #1 of 4 \(cheapest error per byte saved first\) is among the \d+ kept/);
  });

  it('with a generous E quantizes everything to int4; with E = 0 keeps the float model', async () => {
    const model = threeLayerModel();
    const loose = await autoPrecision(model, run, batches, { maxError: 10 });
    expect(loose.report.layers.map((l) => l.precision)).toEqual(['int4', 'int4', 'int4']);
    const strict = await autoPrecision(model, run, batches, { maxError: 0, precisions: ['int8'] });
    expect(strict.report.layers.every((l) => l.precision === 'float')).toBe(true);
    expect(strict.report.error).toBe(0);
    expect(strict.quantizeReport.dtype).toBe('float');
  });

  it('bounds the metric asked for: kl, verified by an independent comparison', async () => {
    const model = threeLayerModel();
    const { model: q, report } = await autoPrecision(model, run, batches, { maxError: 0.05, metric: 'kl' });
    expect(report).toMatchObject({ version: 2, metric: 'kl', baseline: 0, withinBound: true });
    expect(report.error).toBeLessThanOrEqual(0.05);
    expect(report.figures).toMatchObject([{ kind: 'kl', output: 'y', rows: 8 }]);
    const cmp = await compareModels(model, q, run, batches, { layers: false, metric: 'kl' });
    expect(cmp.error).toBeCloseTo(report.error, 12);
    expect(report.counts.float).toBeLessThan(3);
  });

  it('with accuracy against labels the float model partly misses, plans above its own error rate, and says when even it misses the bound', async () => {
    const model = threeLayerModel();
    // Labels: the float model's own top class, two of the eight rows changed: its error rate is 0.25.
    const labels: number[] = [];
    for (const out of await collectOutputs(run, encodeModel(model), batches)) {
      const y = out.y!.values as Float32Array;
      for (let r = 0; r < 4; r++) {
        let best = 0;
        for (let j = 1; j < 64; j++) if (y[r * 64 + j]! > y[r * 64 + best]!) best = j;
        labels.push(best);
      }
    }
    labels[1] = (labels[1]! + 1) % 64;
    labels[6] = (labels[6]! + 1) % 64;
    const metric = { kind: 'accuracy', labels } as const;
    const strict = await autoPrecision(model, run, batches, { maxError: 0.1, metric, precisions: ['int8'] });
    expect(strict.report).toMatchObject({ metric: 'accuracy', baseline: 0.25, error: 0.25, withinBound: false, steps: 0 });
    expect(strict.report.figures[0]).toMatchObject({ kind: 'accuracy', referenceAccuracy: 0.75 });
    const loose = await autoPrecision(model, run, batches, { maxError: 0.5, metric, precisions: ['int8'] });
    expect(loose.report.withinBound).toBe(true);
    expect(loose.report.error).toBeLessThanOrEqual(0.5);
    expect(loose.report.counts.int8).toBeGreaterThan(0);
  });

  it('rejects a max error that is not a finite number >= 0', async () => {
    await expect(autoPrecision(threeLayerModel(), run, batches, { maxError: -1 })).rejects.toThrow(/max error must be a finite number >= 0/);
    await expect(autoPrecision(threeLayerModel(), run, batches, { maxError: Number.NaN })).rejects.toThrow(/got NaN/);
  });
});
