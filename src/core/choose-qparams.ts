import type { QuantDtype } from './dtypes.js';
import { quantRange } from './dtypes.js';
import { FLOAT32_EPS, roundHalfEven } from './round.js';

const f32 = Math.fround;

export interface QParamsScheme {
  readonly dtype: QuantDtype;
  readonly symmetric: boolean;
  readonly narrow: boolean;
}

/**
 * Scale and zero point from observed ranges, exactly as PyTorch's MinMaxObserver computes them, in
 * float32. The range is first widened to contain 0, so 0 is always exactly representable:
 *
 *   asymmetric: scale = (max - min) / (qmax - qmin),  zeroPoint = clamp(qmin - round(min / scale))
 *   symmetric:  scale = max(|min|, |max|) / ((qmax - qmin) / 2),
 *               zeroPoint = 0 (signed) or (qmin + qmax + 1) / 2 (unsigned)
 *
 * with scale floored at float32 epsilon (2^-23), so an all-zero or constant input still gives a
 * finite, non-zero scale. round is half to even. Example: int8 asymmetric over [-1, 3] gives
 * scale = 4/255 and zeroPoint = -128 - round(-1 / scale) = -64.
 *
 * min[i] and max[i] describe parameter i; results go to `out` when given (reused buffers).
 */
export function chooseQParams(
  min: Float32Array,
  max: Float32Array,
  scheme: QParamsScheme,
  out?: { scale: Float32Array; zeroPoint: Int32Array },
): { scale: Float32Array; zeroPoint: Int32Array } {
  const n = min.length;
  const scale = out?.scale ?? new Float32Array(n);
  const zeroPoint = out?.zeroPoint ?? new Int32Array(n);
  const { qmin, qmax } = quantRange(scheme.dtype, scheme.narrow);
  const steps = qmax - qmin;
  const halfSteps = f32(steps / 2);
  const unsignedMid = Math.floor((qmin + qmax + 1) / 2);
  for (let i = 0; i < n; i++) {
    const minNeg = Math.min(min[i], 0);
    const maxPos = Math.max(max[i], 0);
    if (scheme.symmetric) {
      const m = Math.max(-minNeg, maxPos);
      scale[i] = Math.max(f32(m / halfSteps), FLOAT32_EPS);
      zeroPoint[i] = scheme.dtype.signed ? 0 : unsignedMid;
    } else {
      const s = Math.max(f32(f32(maxPos - minNeg) / steps), FLOAT32_EPS);
      scale[i] = s;
      const zp = qmin - roundHalfEven(f32(minNeg / s));
      zeroPoint[i] = zp < qmin ? qmin : zp > qmax ? qmax : zp;
    }
  }
  return { scale, zeroPoint };
}
