import type { CodeArray } from './dtypes.js';
import type { FiniteScan } from './finite-scan.js';
import type { BlockLayout } from './layout.js';
import { paramIndex } from './layout.js';
import type { QParams } from './qparams.js';
import { roundHalfEven } from './round.js';

const f32 = Math.fround;

/**
 * How many values the clamp to [qmin, qmax] changed: roundHalfEven(x / scale) + zeroPoint fell
 * outside the range (±Infinity always does; NaN never does). Only codes at qmin or qmax can have
 * been clamped, so the division is redone for those alone.
 */
export function countClipped(x: Float32Array, codes: CodeArray, layout: BlockLayout, params: QParams): number {
  const { qmin, qmax, scale, zeroPoint } = params;
  const perTensor = layout.paramCount === 1;
  let clipped = 0;
  for (let g = 0; g < codes.length; g++) {
    const q = codes[g];
    if (q !== qmin && q !== qmax) continue;
    const p = perTensor ? 0 : paramIndex(layout, g);
    const v = roundHalfEven(f32(x[g] / scale[p])) + zeroPoint[p];
    if (v < qmin || v > qmax) clipped++;
  }
  return clipped;
}

/**
 * x ↦ roundHalfEven(x / scale) is monotonic, so when the scanned extremes of every parameter's
 * values land inside [qmin, qmax] no value was clamped and the counting pass can be skipped (the
 * usual case for dynamic min/max parameters). Needs a scan laid out like the parameters.
 */
export function extremesFit(scan: FiniteScan, params: QParams): boolean {
  if (scan.hasNaN || scan.hasInf || scan.min.length !== params.scale.length) return false;
  for (let p = 0; p < scan.min.length; p++) {
    const lo = roundHalfEven(f32(scan.min[p] / params.scale[p])) + params.zeroPoint[p];
    const hi = roundHalfEven(f32(scan.max[p] / params.scale[p])) + params.zeroPoint[p];
    if (lo < params.qmin || hi > params.qmax) return false;
  }
  return true;
}

/** float16 overflow: finite values whose float16 is ±Infinity (|x| ≥ 65520). */
export function countFloat16Overflow(x: Float32Array, bits: Uint16Array): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i] & 0x7fff) === 0x7c00 && Number.isFinite(x[i])) n++;
  }
  return n;
}
