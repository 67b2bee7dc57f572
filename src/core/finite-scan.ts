import type { BlockLayout } from './layout.js';

/** Per-parameter extremes from one pass, and whether NaN or ±Infinity were among the values. */
export interface FiniteScan {
  readonly min: Float32Array;
  readonly max: Float32Array;
  readonly hasNaN: boolean;
  readonly hasInf: boolean;
}

/**
 * What a NaN-propagating min/max pass (Kernels.minMax with finiteOnly false) found: a NaN extreme
 * means a NaN among the parameter's values, an infinite one an infinity. min and max are kept.
 */
export function finiteScanOf(x: Float32Array, min: Float32Array, max: Float32Array): FiniteScan {
  let hasNaN = false;
  let hasInf = false;
  for (let p = 0; p < min.length; p++) {
    if (min[p] !== min[p] || max[p] !== max[p]) hasNaN = true;
    else if (min[p] === -Infinity || max[p] === Infinity) hasInf = true;
  }
  // A NaN parameter hides whether its values held an infinity too.
  if (hasNaN && !hasInf) hasInf = x.some((v) => v === Infinity || v === -Infinity);
  return { min, max, hasNaN, hasInf };
}

/** Per-parameter min/max starting points for a scan over `layout`. */
export function emptyRange(layout: BlockLayout): { min: Float32Array; max: Float32Array } {
  return { min: new Float32Array(layout.paramCount).fill(Infinity), max: new Float32Array(layout.paramCount).fill(-Infinity) };
}

/** How many values of x are NaN or ±Infinity. */
export function countNonFinite(x: Float32Array): number {
  let n = 0;
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) n++;
  return n;
}
