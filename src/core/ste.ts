import { QuantError } from './errors.js';
import type { BlockLayout } from './layout.js';
import type { QParams } from './qparams.js';
import { layoutForParams } from './quantize.js';
import { roundHalfEven } from './round.js';

const f32 = Math.fround;

/** A fake-quantize forward plus what its backward needs. */
export interface FakeQuantizeGrad {
  /** x̂ = (clamp(q, qmin, qmax) − zeroPoint) · scale, bit for bit core fakeQuantize. */
  readonly values: Float32Array;
  /** 1 where the unclamped code q = round(x / scale) + zeroPoint lies in [qmin, qmax], else 0. */
  readonly mask: Uint8Array;
}

/**
 * Fake quantization for training with the straight-through estimator, as PyTorch's
 * fake_quantize_per_tensor_affine / _per_channel_affine (the cachemask forms):
 *
 *   q  = roundHalfEven(x / scale) + zeroPoint       (the division in float32, the core's formula)
 *   x̂  = (clamp(q, qmin, qmax) − zeroPoint) · scale
 *   ∂x̂/∂x = 1 if qmin ≤ q ≤ qmax else 0             (rounding passes the gradient straight through)
 *
 * In terms of x the gradient is 1 on [(qmin − zp − ½)·s, (qmax − zp + ½)·s] (ends by the rounding
 * rule): every x that rounds to a representable code, which is the clamp interval
 * [(qmin − zp)·s, (qmax − zp)·s] widened by half a step, since PyTorch tests the rounded code.
 * PyTorch multiplies by a float32 reciprocal of the scale where the core divides; the two agree
 * except, rarely, by one code at a rounding tie.
 *
 * params may be per-tensor, per-axis or per-block. NaN is an error; ±Infinity saturates with
 * gradient 0. out reuses buffers.
 */
export function fakeQuantizeWithGrad(
  x: Float32Array,
  shape: readonly number[],
  params: QParams,
  out: { values?: Float32Array; mask?: Uint8Array } = {},
): FakeQuantizeGrad {
  const layout = layoutForParams(x.length, shape, params);
  const values = checkOut(out.values, x.length) ?? new Float32Array(x.length);
  const mask = checkOut(out.mask, x.length) ?? new Uint8Array(x.length);
  const { scale, zeroPoint, qmin, qmax } = params;
  forEachParamRun(layout, (from, to, p, vary) => {
    for (let g = from; g < to; g++) {
      const pi = vary ? p + (g - from) : p;
      const v = x[g];
      if (v !== v) throw new QuantError('NAN_INPUT', `input contains NaN at index ${g}`, { details: { index: g } });
      const zp = zeroPoint[pi];
      const q = roundHalfEven(f32(v / scale[pi])) + zp;
      const inside = q >= qmin && q <= qmax;
      mask[g] = inside ? 1 : 0;
      values[g] = f32(((inside ? q : q < qmin ? qmin : qmax) - zp) * scale[pi]);
    }
  });
  return { values, mask };
}

/**
 * The straight-through backward: dX = dY · mask (as PyTorch's
 * fake_quantize_per_tensor_affine_cachemask_backward, so a negative dY masked out is −0).
 */
export function fakeQuantizeBackward(gradOutput: Float32Array, mask: Uint8Array, out?: Float32Array): Float32Array {
  if (mask.length !== gradOutput.length) {
    throw new QuantError('SHAPE_MISMATCH', `mask has ${mask.length} elements but the gradient has ${gradOutput.length}`);
  }
  const dX = checkOut(out, gradOutput.length) ?? new Float32Array(gradOutput.length);
  for (let i = 0; i < gradOutput.length; i++) dX[i] = gradOutput[i] * mask[i];
  return dX;
}

/**
 * Walks a BlockLayout as runs of elements [from, to) that share parameter p (vary false) or whose
 * parameter runs p, p+1, … along with the element (vary true): the per-row form of paramIndex, so
 * the inner loops do no division.
 */
export function forEachParamRun(layout: BlockLayout, fn: (from: number, to: number, p: number, vary: boolean) => void): void {
  const { inner, axisLen, blockSize, paramOuterStride, varyInner } = layout;
  const rows = layout.size === 0 ? 0 : layout.size / inner;
  for (let r = 0; r < rows; r++) {
    const o = Math.floor(r / axisLen);
    const a = r - o * axisLen;
    const p = o * paramOuterStride + Math.floor(a / blockSize) * (varyInner ? inner : 1);
    fn(r * inner, r * inner + inner, p, varyInner);
  }
}

function checkOut<T extends { length: number }>(out: T | undefined, n: number): T | undefined {
  if (out !== undefined && out.length !== n) {
    throw new QuantError('SHAPE_MISMATCH', `output has ${out.length} elements, expected ${n}`);
  }
  return out;
}
