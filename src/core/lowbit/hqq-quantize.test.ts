import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { createRng } from '../random.js';
import { dequantize } from '../quantize.js';
import { hqqQuantize } from './hqq-quantize.js';
import { rtnQuantizeBlocks } from './rtn-quantize-blocks.js';

function heavyTailed(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => {
    const g = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    return rng() < 0.05 ? g * 6 : g;
  });
}

/** Σ|w − ŵ|^p per block. */
function lpPerBlock(w: Float32Array, wq: Float32Array, rows: number, cols: number, blockSize: number, p: number): number[] {
  const nb = Math.ceil(cols / blockSize);
  const out = new Array<number>(rows * nb).fill(0);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * nb + Math.floor(c / blockSize)] += Math.abs(w[r * cols + c] - wq[r * cols + c]) ** p;
  return out;
}

describe('hqqQuantize', () => {
  it('is never worse than its RTN start on the lp objective, in every block, for every mode', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 2, max: 8 }),
        fc.integer({ min: 1, max: 24 }),
        fc.constantFrom('integer' as const, 'float' as const),
        fc.boolean(),
        fc.boolean(),
        fc.double({ min: 0.3, max: 1, noNaN: true }),
        fc.integer(),
        (rows, cols, bits, blockSize, zeroPoint, optimizeScale, symmetric, lpNorm, seed) => {
          const w = heavyTailed(rows * cols, seed);
          const opts = { bits, blockSize, zeroPoint, optimizeScale, symmetric, lpNorm, dequantize: true };
          const r = hqqQuantize(w, [rows, cols], opts);
          const start = rtnQuantizeBlocks(w, [rows, cols], opts);
          const after = lpPerBlock(w, r.dequantized!, rows, cols, blockSize, lpNorm);
          const before = lpPerBlock(w, start.dequantized!, rows, cols, blockSize, lpNorm);
          expect(after.filter((e, i) => e > before[i] * (1 + 1e-12))).toEqual([]);
          expect(r.codes.every((q) => q >= r.params.qmin && q <= r.params.qmax)).toBe(true);
        },
      ),
      { seed: 31, numRuns: 100 },
    );
  });

  it('with float zero points lowers the lp objective of outlier-heavy blocks below RTN', () => {
    const rows = 8;
    const cols = 128;
    const w = heavyTailed(rows * cols, 4);
    const r = hqqQuantize(w, [rows, cols], { bits: 4, blockSize: 64, zeroPoint: 'float', dequantize: true });
    const rtn = rtnQuantizeBlocks(w, [rows, cols], { bits: 4, blockSize: 64, dequantize: true });
    const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
    expect(sum(lpPerBlock(w, r.dequantized!, rows, cols, 64, 0.7))).toBeLessThan(0.97 * sum(lpPerBlock(w, rtn.dequantized!, rows, cols, 64, 0.7)));
    expect(r.zeroPointsFloat!.some((z) => z !== Math.round(z))).toBe(true);
    // dequantized is relative to the float zero points.
    for (let i = 0; i < 20; i++) {
      const p = Math.floor(i / 64);
      expect(r.dequantized![i]).toBe(Math.fround((r.codes[i] - r.zeroPointsFloat![p]) * r.scales[p]));
    }
  });

  it('with integer zero points gives parameters dequantize() agrees with', () => {
    const w = heavyTailed(4 * 48, 6);
    const r = hqqQuantize(w, [4, 48], { bits: 3, blockSize: 16, optimizeScale: true, dequantize: true });
    expect(r.zeroPointsFloat).toBeUndefined();
    expect(Array.from(dequantize(r.codes, [4, 48], r.params))).toEqual(Array.from(r.dequantized!));
  });

  it('rejects bad options', () => {
    const w = heavyTailed(8, 1);
    expectQuantError(() => hqqQuantize(w, [2, 4], { bits: 4, blockSize: 4, lpNorm: 0 }), 'INVALID_ARGUMENT', /lpNorm/);
    expectQuantError(() => hqqQuantize(w, [2, 4], { bits: 4, blockSize: 4, iters: -1 }), 'INVALID_ARGUMENT', /iters/);
    expectQuantError(() => hqqQuantize(w, [2, 4], { bits: 4, blockSize: 4, beta: 0 }), 'INVALID_ARGUMENT', /beta/);
    expectQuantError(() => hqqQuantize(w, [2, 4], { bits: 4, blockSize: 4, zeroPoint: 'half' as never }), 'INVALID_ARGUMENT', /zeroPoint/);
  });
});
