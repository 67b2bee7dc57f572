import { QuantError } from './errors.js';
import type { BlockLayout } from './layout.js';
import { blockLayout, PER_TENSOR } from './layout.js';
import { roundHalfEven } from './round.js';
import { forEachParamRun } from './ste.js';

const f32 = Math.fround;

/**
 * Learnable quantization parameters (LSQ: Esser et al., "Learned Step Size Quantization", ICLR
 * 2020; PyTorch's _LearnableFakeQuantize). scale and zeroPoint are float32 and trained; the
 * zero point is used rounded: z = clamp(roundHalfEven(zeroPoint), qmin, qmax).
 */
export interface LsqParams {
  /** One per channel (axis given) or one (per-tensor); each finite and > 0. */
  readonly scale: Float32Array;
  /** Same length as scale. */
  readonly zeroPoint: Float32Array;
  readonly qmin: number;
  readonly qmax: number;
  /** Channel axis for per-channel parameters (negative counts from the end); undefined: per-tensor. */
  readonly axis?: number;
}

/** Gradients of Σ dY · x̂ with respect to x, each scale and each zero point. */
export interface LsqGrads {
  readonly dX: Float32Array;
  readonly dScale: Float32Array;
  readonly dZeroPoint: Float32Array;
}

/**
 * The gradient scale LSQ recommends for the step size, g = 1 / √(numel · qmax) (Esser et al.,
 * section 2.2; PyTorch's use_grad_scaling). Example: 1024 weights at 4 bits signed (qmax 7) → 1/√7168.
 */
export function lsqGradFactor(numel: number, qmax: number): number {
  if (!(numel > 0) || !(qmax > 0)) {
    throw new QuantError('INVALID_ARGUMENT', `lsqGradFactor needs numel > 0 and qmax > 0, got numel ${numel} and qmax ${qmax}`);
  }
  return 1 / Math.sqrt(numel * qmax);
}

/**
 * The LSQ forward: x̂ = (clamp(roundHalfEven(x / s) + z, qmin, qmax) − z) · s, z the rounded zero
 * point, in float32 (the core's quantize formula, so it equals core fakeQuantize with those
 * parameters bit for bit).
 */
export function lsqFakeQuantize(x: Float32Array, shape: readonly number[], params: LsqParams, out?: Float32Array): Float32Array {
  const layout = checkedLayout(x.length, shape, params);
  const y = checkOut(out, x.length) ?? new Float32Array(x.length);
  const z = roundedZeroPoints(params);
  const { scale, qmin, qmax } = params;
  forEachParamRun(layout, (from, to, p, vary) => {
    for (let g = from; g < to; g++) {
      const pi = vary ? p + (g - from) : p;
      const v = x[g];
      if (v !== v) throw new QuantError('NAN_INPUT', `input contains NaN at index ${g}`, { details: { index: g } });
      const q = roundHalfEven(f32(v / scale[pi])) + z[pi];
      y[g] = f32(((q < qmin ? qmin : q > qmax ? qmax : q) - z[pi]) * scale[pi]);
    }
  });
  return y;
}

/**
 * The LSQ backward, per element as PyTorch's _fake_quantize_learnable_per_tensor_affine_backward
 * and _per_channel_affine_backward (q the unclamped code, x̂ the forward output, g gradFactor):
 *
 *   ∂x̂/∂x = 1 inside (qmin ≤ q ≤ qmax), 0 outside          (straight through the rounding)
 *   ∂x̂/∂s = (x̂ − x) / s inside,  qmin − z below,  qmax − z above   (LSQ: round(x/s) − x/s inside)
 *   ∂x̂/∂z = 0 inside,  −s outside
 *
 * dX = dY · ∂x̂/∂x; dScale[c] = Σ dY · ∂x̂/∂s · g and dZeroPoint[c] = Σ dY · ∂x̂/∂z · g over the
 * elements of parameter c. Each term is PyTorch's float32 expression (inside:
 * dY · (x̂ − x) · fround(1/s) · g); the sums are taken in float64 and rounded once, where PyTorch
 * sums float32 in its own order, so totals may differ from PyTorch's in the last bits.
 *
 * The zero point is rounded half to even as PyTorch's forward and per-channel backward do;
 * PyTorch's per-tensor backward instead truncates zeroPoint + 0.5, which disagrees with its own
 * forward for half-integer and for negative non-integer zero points, so it is not followed.
 */
export function lsqBackward(
  gradOutput: Float32Array,
  x: Float32Array,
  shape: readonly number[],
  params: LsqParams,
  opts: { gradFactor?: number; out?: Float32Array } = {},
): LsqGrads {
  if (gradOutput.length !== x.length) {
    throw new QuantError('SHAPE_MISMATCH', `gradient has ${gradOutput.length} elements but x has ${x.length}`);
  }
  const layout = checkedLayout(x.length, shape, params);
  const gradFactor = opts.gradFactor ?? 1;
  if (!Number.isFinite(gradFactor)) throw new QuantError('INVALID_ARGUMENT', `gradFactor must be finite, got ${gradFactor}`);
  const gf = f32(gradFactor);
  const dX = checkOut(opts.out, x.length) ?? new Float32Array(x.length);
  const z = roundedZeroPoints(params);
  const { scale, qmin, qmax } = params;
  const sumScale = new Float64Array(scale.length);
  const sumZero = new Float64Array(scale.length);
  forEachParamRun(layout, (from, to, p, vary) => {
    for (let g = from; g < to; g++) {
      const pi = vary ? p + (g - from) : p;
      const v = x[g];
      if (v !== v) throw new QuantError('NAN_INPUT', `input contains NaN at index ${g}`, { details: { index: g } });
      const s = scale[pi];
      const zp = z[pi];
      const dy = gradOutput[g];
      const q = roundHalfEven(f32(v / s)) + zp;
      if (q >= qmin && q <= qmax) {
        dX[g] = dy;
        const xfq = f32((q - zp) * s);
        sumScale[pi] += f32(f32(f32(dy * f32(xfq - v)) * f32(1 / s)) * gf);
      } else {
        dX[g] = dy * 0;
        sumScale[pi] += f32(f32(dy * (q < qmin ? qmin - zp : qmax - zp)) * gf);
        sumZero[pi] += f32(f32(-dy * s) * gf);
      }
    }
  });
  return { dX, dScale: Float32Array.from(sumScale), dZeroPoint: Float32Array.from(sumZero) };
}

function roundedZeroPoints(params: LsqParams): Float64Array {
  const z = new Float64Array(params.zeroPoint.length);
  for (let c = 0; c < z.length; c++) {
    const r = roundHalfEven(f32(params.zeroPoint[c]));
    z[c] = r < params.qmin ? params.qmin : r > params.qmax ? params.qmax : r;
  }
  return z;
}

function checkedLayout(n: number, shape: readonly number[], params: LsqParams): BlockLayout {
  const { scale, zeroPoint, qmin, qmax } = params;
  if (!Number.isSafeInteger(qmin) || !Number.isSafeInteger(qmax) || qmin >= qmax) {
    throw new QuantError('INVALID_PARAMS', `qmin and qmax must be integers with qmin < qmax, got ${qmin} and ${qmax}`);
  }
  const layout = blockLayout(shape, params.axis === undefined ? PER_TENSOR : { kind: 'per-axis', axis: params.axis });
  if (layout.size !== n) {
    throw new QuantError('SHAPE_MISMATCH', `shape [${shape.join(', ')}] has ${layout.size} elements but the data has ${n}`);
  }
  if (scale.length !== layout.paramCount || zeroPoint.length !== layout.paramCount) {
    throw new QuantError(
      'SHAPE_MISMATCH',
      `expected ${layout.paramCount} scale${layout.paramCount === 1 ? '' : 's'} and zero points ${params.axis === undefined ? 'per-tensor' : `along axis ${params.axis}`}, got ${scale.length} and ${zeroPoint.length}`,
    );
  }
  for (let c = 0; c < scale.length; c++) {
    if (!(scale[c] > 0 && scale[c] < Infinity)) {
      throw new QuantError('INVALID_PARAMS', `scale[${c}] must be finite and > 0, got ${scale[c]}`);
    }
    if (!Number.isFinite(zeroPoint[c])) {
      throw new QuantError('INVALID_PARAMS', `zeroPoint[${c}] must be finite, got ${zeroPoint[c]}`);
    }
  }
  return layout;
}

function checkOut(out: Float32Array | undefined, n: number): Float32Array | undefined {
  if (out !== undefined && out.length !== n) {
    throw new QuantError('SHAPE_MISMATCH', `output has ${out.length} elements, expected ${n}`);
  }
  return out;
}
