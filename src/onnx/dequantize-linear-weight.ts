import type { TensorProto } from 'onnx-buf';
import { computeQParams, quantize } from '../core/quantize.js';
import type { Granularity } from '../core/layout.js';
import { makeTensor } from '../formats/onnx/tensor.js';
import type { WeightDtype } from './quantize-options.js';

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
 * −7..7 for int4) as ONNX Runtime does, so +max and −max are both exact.
 */
export function quantizeForDequantizeLinear(
  names: { codes: string; scale: string; zeroPoint: string },
  values: Float32Array,
  dims: readonly number[],
  dtype: WeightDtype,
  symmetric: boolean,
  granularity: Granularity,
): DequantizeLinearWeight {
  const narrow = symmetric && dtype.startsWith('int');
  const params = computeQParams(values, dims, { dtype, symmetric, narrow, granularity });
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
