import { QuantError } from '../core/errors.js';
import type { BlockLayout } from '../core/layout.js';
import { getKernels } from '../core/kernels/index.js';
import { firstNonFinite } from '../core/validate.js';
import type { FiniteScan } from '../core/finite-scan.js';
import { emptyRange, finiteScanOf } from '../core/finite-scan.js';

export type { FiniteScan } from '../core/finite-scan.js';

/**
 * One pass of the min/max kernel over `layout`, with NaN propagating and infinities taken, so the
 * same pass that gives a dynamic range also tells whether the data is finite.
 */
export function scanRange(x: Float32Array, layout: BlockLayout): FiniteScan {
  const { min, max } = emptyRange(layout);
  getKernels().minMax(x, layout, min, max, 0, false);
  return finiteScanOf(x, min, max);
}

/** Throws NAN_INPUT / INF_INPUT (naming the first index) when the scan found what the config forbids. */
export function rejectNonFinite(x: Float32Array, scan: FiniteScan, errorOnNan: boolean, errorOnInf: boolean, what = 'data'): void {
  if (scan.hasNaN && errorOnNan) {
    const i = firstNonFinite(x, false);
    throw new QuantError('NAN_INPUT', `${what} contains NaN at flat index ${i} (errorOnNan is on; turn it off to encode NaN as the zero point)`, { details: { index: i } });
  }
  if (scan.hasInf && errorOnInf) {
    let i = 0;
    while (i < x.length && x[i] !== Infinity && x[i] !== -Infinity) i++;
    throw new QuantError('INF_INPUT', `${what} contains ${x[i]} at flat index ${i} (errorOnInf is on; turn it off to saturate infinities)`, { details: { index: i } });
  }
}

/**
 * The values a range may be estimated from when NaN/Inf are allowed: per-tensor, the finite values
 * alone (shape [k]); per-channel, a copy with each non-finite value replaced by 0 (the range always
 * includes 0, so min/max ranges are unchanged; histogram-based ranges see a few extra zeros).
 */
export function finiteValues(x: Float32Array, perTensor: boolean): Float32Array {
  if (perTensor) {
    let k = 0;
    for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i])) k++;
    const out = new Float32Array(k);
    k = 0;
    for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i])) out[k++] = x[i];
    return out;
  }
  const out = x.slice();
  for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i])) out[i] = 0;
  return out;
}
