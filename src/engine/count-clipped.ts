import type { CodeArray } from '../core/dtypes.js';
import type { BlockLayout } from '../core/layout.js';
import { paramIndex } from '../core/layout.js';
import type { QParams } from '../core/qparams.js';
import { roundHalfEven } from '../core/round.js';

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

/** float16 overflow: finite values whose float16 is ±Infinity (|x| ≥ 65520). */
export function countFloat16Overflow(x: Float32Array, bits: Uint16Array): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i] & 0x7fff) === 0x7c00 && Number.isFinite(x[i])) n++;
  }
  return n;
}
