import { z } from 'zod';
import { QuantError } from '../core/errors.js';

export const QUANTIZE_MODES = ['weight-only', 'dynamic', 'static'] as const;
export type QuantizeMode = (typeof QUANTIZE_MODES)[number];

export const WEIGHT_DTYPES = ['int8', 'uint8', 'int4', 'uint4'] as const;
export type WeightDtype = (typeof WEIGHT_DTYPES)[number];

export const OBSERVER_NAMES = ['minmax', 'percentile', 'mse', 'entropy'] as const;
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

const BLOCK_SIZE_EXPECTED = 'expected an integer >= 16 and a power of two';

/** A 4-bit block size: a power of two of at least 16 (MatMulNBits and blocked DequantizeLinear). */
export function isBlockSize(b: number): boolean {
  return Number.isInteger(b) && b >= 16 && Number.isInteger(Math.log2(b));
}

const names = (what: string) => z.array(z.string({ error: `expected ${what} (a string)` }), { error: `expected a list of ${what}s` });

/**
 * Options of quantizeModel, validated once (quantizeModel parses them; everything inside trusts
 * the parsed form). Defaults: mode weight-only, dtype int8, per-tensor, block size 32 (4-bit),
 * symmetric for signed dtypes and asymmetric for unsigned (as ONNX Runtime's weight defaults),
 * minmax observer, QDQ format, MatMulNBits for 4-bit MatMul, Cast+Mul for 8-bit weight-only
 * weights, biases kept in float.
 */
export const quantizeOptionsSchema = z.strictObject({
  mode: z.enum(QUANTIZE_MODES, { error: `expected mode ${QUANTIZE_MODES.join(' | ')}` }).default('weight-only'),
  dtype: z.enum(WEIGHT_DTYPES, { error: `expected dtype ${WEIGHT_DTYPES.join(' | ')}` }).default('int8'),
  perChannel: z.boolean({ error: 'expected true or false' }).default(false),
  // One check, one message: separate int/min/refine checks each reported the same failure.
  blockSize: z
    .number({ error: BLOCK_SIZE_EXPECTED })
    .refine(isBlockSize, { error: (i) => `${BLOCK_SIZE_EXPECTED}, got ${String(i.input)}` })
    .default(32),
  symmetric: z.boolean({ error: 'expected true or false' }).optional(),
  observer: z.enum(OBSERVER_NAMES, { error: `expected observer ${OBSERVER_NAMES.join(' | ')}` }).default('minmax'),
  /** Op types to quantize; undefined: the mode's default set. */
  opTypes: names('op type').optional(),
  /** Node names left in float. */
  exclude: names('node name').default([]),
  format: z.enum(QUANTIZED_FORMATS, { error: `expected format ${QUANTIZED_FORMATS.join(' | ')}` }).default('qdq'),
  int4Form: z.enum(INT4_FORMS, { error: `expected int4 form ${INT4_FORMS.join(' | ')}` }).default('matmulnbits'),
  int8Form: z.enum(INT8_FORMS, { error: `expected int8 form ${INT8_FORMS.join(' | ')}` }).default('cast-mul'),
  /** Quantize biases too (int32 with scale = input scale · weight scale where the mode knows the input scale). */
  quantizeBias: z.boolean({ error: 'expected true or false' }).default(false),
});

export type QuantizeOptionsInput = z.input<typeof quantizeOptionsSchema>;
export type QuantizeOptions = z.output<typeof quantizeOptionsSchema>;

/** Parses options, or throws INVALID_CONFIG naming every bad field ("dtype: expected dtype int8 | …"). */
export function parseQuantizeOptions(input: unknown): QuantizeOptions {
  const r = quantizeOptionsSchema.safeParse(input ?? {});
  if (!r.success) {
    const detail = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'options'}: ${i.message}`).join('; ');
    throw new QuantError('INVALID_CONFIG', `invalid ONNX quantization options: ${detail}`, { cause: r.error });
  }
  return r.data;
}

/** The effective symmetry: as given, else symmetric for signed dtypes. */
export function isSymmetric(options: QuantizeOptions): boolean {
  return options.symmetric ?? options.dtype.startsWith('int');
}
