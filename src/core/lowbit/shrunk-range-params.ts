import { quantizeOne } from '../kernels/reference.js';
import type { LowBitScheme } from './lowbit-scheme.js';
import { blockParamsFromRange } from './lowbit-scheme.js';

/** GPTQ's `mse` grid search (IST-DASLab quant.py Quantizer.find_params): candidates shrink the range by 1/grid down to 1 − maxShrink, scored by Σ|ŵ − w|^norm. */
export const SHRINK_GRID = 100;
export const SHRINK_MAX = 0.8;
export const SHRINK_NORM = 2.4;

/**
 * The block parameters of `values[c0..c1)` whose grid minimizes Σ|ŵ − w|^2.4 over the ranges
 * p·[min, max] (the range widened to contain 0, min and max rounded to float32 first), p = 1,
 * 0.99, …, 0.21, each turned into a scale and zero point by the scheme's own formula
 * (blockParamsFromRange) and the first strict minimum kept: IST-DASLab's GPTQ `mse` option on the
 * quantkit grid. p = 1 is the min/max grid, so the result is never worse than it by this measure.
 * A block with a large outlier gets a narrower grid: the outlier clips, the rest round finer.
 */
export function shrunkRangeParams(s: LowBitScheme, values: ArrayLike<number>, c0: number, c1: number): { scale: number; zeroPoint: number } {
  let lo = 0;
  let hi = 0;
  for (let c = c0; c < c1; c++) {
    const v = values[c];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  lo = Math.fround(lo);
  hi = Math.fround(hi);
  let best = Infinity;
  let out = blockParamsFromRange(s, lo, hi);
  const steps = Math.floor(SHRINK_MAX * SHRINK_GRID);
  for (let i = 0; i < steps; i++) {
    const p = 1 - i / SHRINK_GRID;
    const cand = blockParamsFromRange(s, p * lo, p * hi);
    let err = 0;
    for (let c = c0; c < c1; c++) {
      const v = values[c];
      const q = quantizeOne(v, cand.scale, cand.zeroPoint, s.qmin, s.qmax);
      err += Math.abs(Math.fround((q - cand.zeroPoint) * cand.scale) - v) ** SHRINK_NORM;
    }
    if (err < best) {
      best = err;
      out = cand;
    }
  }
  return out;
}
