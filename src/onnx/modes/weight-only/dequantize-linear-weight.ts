import type { TensorProto } from 'onnx-buf';
import { computeQParams, computeRange, quantize } from '../../../core/quantize.js';
import type { Granularity } from '../../../core/layout.js';
import { blockLayout } from '../../../core/layout.js';
import type { QParams } from '../../../core/qparams.js';
import { FLOAT32_EPS, roundHalfEven } from '../../../core/round.js';
import { makeTensor } from '../../../formats/onnx/tensor.js';
import { float32ToFloat16Bits } from '../../../core/float16.js';
import type { BlockedWeight } from './blocked-weight.js';
import type { WeightDtype } from '../../quantize-options.js';

export interface DequantizeLinearWeight {
  readonly codes: TensorProto;
  readonly scale: TensorProto;
  readonly zeroPoint: TensorProto;
  /** The DequantizeLinear attributes: axis for per-axis and per-block, block_size for per-block. */
  readonly attributes: Record<string, number>;
}

/**
 * Quantizes a float32 weight for DequantizeLinear: codes of `dtype` with the weight's shape, and
 * scale and zero point of ONNX's shapes ([] per tensor, [C] per axis, the weight's shape with the
 * blocked axis divided by blockSize per block). DequantizeLinear then gives
 * w ≈ scale · (q − zeroPoint). Symmetric signed weights use the narrow range (−127..127 for int8,
 * −7..7 for int4) as ONNX Runtime does, so +max and −max are both exact. `reduceRange` (8-bit
 * dtypes) writes 7-bit weights as ONNX Runtime's reduce_range: int8 codes in [−64, 64], uint8 in
 * [0, 127] (see reducedRangeParams).
 */
export function quantizeForDequantizeLinear(
  names: { codes: string; scale: string; zeroPoint: string },
  values: Float32Array,
  dims: readonly number[],
  dtype: Exclude<WeightDtype, 'int3' | 'int2'>,
  symmetric: boolean,
  granularity: Granularity,
  reduceRange = false,
): DequantizeLinearWeight {
  const narrow = symmetric && dtype.startsWith('int');
  const params = reduceRange && (dtype === 'int8' || dtype === 'uint8') ? reducedRangeParams(values, dims, dtype, symmetric, granularity) : computeQParams(values, dims, { dtype, symmetric, narrow, granularity });
  const { codes } = quantize(values, dims, { params, validate: false });
  const zp = dtype === 'int8' || dtype === 'int4' ? Int8Array.from(params.zeroPoint) : Uint8Array.from(params.zeroPoint);
  const attributes: Record<string, number> = {};
  if (granularity.kind !== 'per-tensor') attributes.axis = granularity.axis;
  if (granularity.kind === 'per-block') attributes.block_size = granularity.blockSize;
  return {
    codes: makeTensor(names.codes, dtype, dims, codes as Int8Array | Uint8Array),
    scale: makeTensor(names.scale, 'float32', params.paramShape, params.scale),
    zeroPoint: makeTensor(names.zeroPoint, dtype, params.paramShape, zp),
    attributes,
  };
}

const f32 = Math.fround;

/**
 * ONNX Runtime's reduce_range weight parameters (get_qmin_qmax_for_qType, compute_scale_zp):
 * int8 in [qmin, qmax] = [−64, 64], uint8 in [0, 127]; the range widened to contain 0, then
 *
 *   symmetric:  scale = max(|min|, |max|) / ((qmax − qmin) / 2), zeroPoint = 0 (int8) or 64 (uint8)
 *   asymmetric: scale = (max − min) / (qmax − qmin), zeroPoint = clamp(qmin − round(min / scale))
 *
 * in float32, round half to even, scale floored at 2^−23. Every int8 code then has |q| ≤ 64, so
 * 255 · 64 · 2 = 32640 fits the int16 pair sums of x86 CPUs without VNNI.
 */
export function reducedRangeParams(values: Float32Array, dims: readonly number[], dtype: 'int8' | 'uint8', symmetric: boolean, granularity: Granularity): QParams {
  const layout = blockLayout(dims, granularity);
  const { min, max } = computeRange(values, layout);
  const [qmin, qmax] = dtype === 'int8' ? [-64, 64] : [0, 127];
  const scale = new Float32Array(min.length);
  const zeroPoint = new Int32Array(min.length);
  for (let i = 0; i < min.length; i++) {
    const lo = Math.min(min[i]!, 0);
    const hi = Math.max(max[i]!, 0);
    if (symmetric) {
      scale[i] = Math.max(f32(Math.max(-lo, hi) / f32((qmax - qmin) / 2)), FLOAT32_EPS);
      zeroPoint[i] = dtype === 'int8' ? 0 : 64;
    } else {
      const s = Math.max(f32(f32(hi - lo) / (qmax - qmin)), FLOAT32_EPS);
      scale[i] = s;
      zeroPoint[i] = Math.min(qmax, Math.max(qmin, qmin - roundHalfEven(f32(lo / s))));
    }
  }
  return { dtype, symmetric, narrow: false, qmin, qmax, granularity, paramShape: layout.paramShape, scale, zeroPoint };
}

/**
 * Writes an already quantized BlockedWeight for blocked DequantizeLinear (opset 21), or per-axis
 * DequantizeLinear when it is per channel (paramShape [dims[axis]]): codes in
 * `container` (int4/uint4, or int2 from opset 25; 3-bit codes are valid int4 codes), scale in the
 * model's float type (DequantizeLinear's output type follows it, so a float16 model stays float16).
 */
export function blockedForDequantizeLinear(
  names: { codes: string; scale: string; zeroPoint: string },
  w: BlockedWeight,
  dims: readonly number[],
  container: 'int4' | 'uint4' | 'int2',
  axis: number,
  blockSize: number | undefined,
  scaleType: 'float32' | 'float16',
): DequantizeLinearWeight {
  // A per-channel BlockedWeight (paramShape [dims[axis]]) is per-axis DequantizeLinear: no block_size.
  const perAxis = w.paramShape.length !== dims.length;
  if (!perAxis && blockSize === undefined) throw new Error('a blocked weight needs its block size');
  const signed = container !== 'uint4';
  const codes = signed ? Int8Array.from(w.codes) : Uint8Array.from(w.codes);
  const zp = signed ? Int8Array.from(w.zeroPoint) : Uint8Array.from(w.zeroPoint);
  return {
    codes: makeTensor(names.codes, container, dims, codes),
    scale: scaleType === 'float16' ? makeTensor(names.scale, 'float16', w.paramShape, float32ToFloat16Bits(w.scale)) : makeTensor(names.scale, 'float32', w.paramShape, w.scale),
    zeroPoint: makeTensor(names.zeroPoint, container, w.paramShape, zp),
    attributes: perAxis ? { axis } : { axis, block_size: blockSize! },
  };
}
