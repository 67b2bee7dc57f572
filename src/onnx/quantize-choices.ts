import type { ObserverName } from '../core/observers/observer-catalog.js';
import { DATA_OBSERVER_NAMES } from '../core/observers/observer-catalog.js';

/*
 * The values each option of quantizeModel can take, as data: what the CLI lists in its help and
 * offers as choices. Apart from quantize-options.ts (the zod schema that checks them) so that
 * `quantkit onnx --help` shows them without building that schema.
 */

export { QUANTIZE_TARGETS } from './target.js';
export type { QuantizeTarget } from './target.js';

export const QUANTIZE_MODES = ['weight-only', 'dynamic', 'static'] as const;
export type QuantizeMode = (typeof QUANTIZE_MODES)[number];

export const WEIGHT_DTYPES = ['int8', 'uint8', 'int4', 'uint4', 'int3', 'int2'] as const;
export type WeightDtype = (typeof WEIGHT_DTYPES)[number];
/** The weight-only dtypes quantized per block (4 bits and fewer). */
export const BLOCK_DTYPES = ['int4', 'uint4', 'int3', 'int2'] as const;
export type BlockDtype = (typeof BLOCK_DTYPES)[number];
export function isBlockDtype(d: string): d is BlockDtype {
  return (BLOCK_DTYPES as readonly string[]).includes(d);
}

/**
 * How weight codes are chosen (weight-only mode): 'rtn' rounds each weight to the nearest code of
 * a min/max grid (the default, and the only method for 8 bits per channel or per tensor); the
 * others minimise an error per block: 'gptq' (the layer's output error on calibration inputs,
 * Hessian-weighted with error feedback), 'awq' (per-input-channel scales from activation
 * magnitudes), 'hqq' (half-quadratic fit of scale and zero point, no data), 'search' (a scale/clip
 * search weighted by mean x² per input channel when calibration data is given).
 */
export const WEIGHT_METHODS = ['rtn', 'gptq', 'awq', 'hqq', 'search'] as const;
export type WeightMethod = (typeof WEIGHT_METHODS)[number];
/** Methods that use calibration inputs (hqq never does; search works without). */
export const CALIBRATED_METHODS: readonly WeightMethod[] = ['gptq', 'awq', 'search'];

/** The observers static calibration can use: the registry's, less those that need options (fixed). */
export const OBSERVER_NAMES = DATA_OBSERVER_NAMES as readonly [ObserverName, ...ObserverName[]];
export const QUANTIZED_FORMATS = ['qdq', 'qoperator'] as const;
/** How 4-bit MatMul weights are written: com.microsoft MatMulNBits (what onnxruntime runs fastest) or opset-21 blocked DequantizeLinear + MatMul. */
export const INT4_FORMS = ['matmulnbits', 'dequantize-linear'] as const;
/**
 * How 8-bit weights are written in weight-only mode: 'cast-mul' (Cast of the codes, Sub of the zero
 * point, Mul by the scale: onnxruntime folds it into a float constant when the session loads, so the
 * op keeps its float kernel, weight prepacking and fusions), 'dequantize-linear' (the QDQ form other
 * runtimes fuse; onnxruntime's CPU provider runs it every inference, or fuses a MatMul into an
 * int8-activation MatMulNBits), or 'matmulnbits' (2-D MatMul weights as 8-bit com.microsoft
 * MatMulNBits per block of blockSize, accuracy level 4: faster than float and 8-bit in memory too,
 * but activations are quantized to int8 per block, so it is not weight-only arithmetic; other ops
 * get Cast+Mul).
 */
export const INT8_FORMS = ['cast-mul', 'dequantize-linear', 'matmulnbits'] as const;

/** A 4-bit block size: a power of two of at least 16 (MatMulNBits and blocked DequantizeLinear). */
export function isBlockSize(b: number): boolean {
  return Number.isInteger(b) && b >= 16 && Number.isInteger(Math.log2(b));
}

/** The float model's share in GPTQ's objective where float targets are asked for without a value (the CLI's bare --float-targets). */
export const FLOAT_TARGETS_SHARE = 0.5;
