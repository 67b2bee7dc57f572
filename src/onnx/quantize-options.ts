import { z } from 'zod';
import { QuantError } from '../core/errors.js';
import type { IntegerTypes } from './target.js';
import { chooseIntegerTypes, QUANTIZE_TARGETS } from './target.js';
import { INT4_FORMS, INT8_FORMS, isBlockDtype, isBlockSize, OBSERVER_NAMES, QUANTIZE_MODES, QUANTIZED_FORMATS, WEIGHT_DTYPES, WEIGHT_METHODS } from './quantize-choices.js';
import type { QuantizeMode, WeightDtype } from './quantize-choices.js';

export { QUANTIZE_TARGETS } from './target.js';
export type { QuantizeTarget } from './target.js';
export { BLOCK_DTYPES, CALIBRATED_METHODS, INT4_FORMS, INT8_FORMS, isBlockDtype, isBlockSize, OBSERVER_NAMES, QUANTIZE_MODES, QUANTIZED_FORMATS, WEIGHT_DTYPES, WEIGHT_METHODS } from './quantize-choices.js';
export type { BlockDtype, QuantizeMode, WeightDtype, WeightMethod } from './quantize-choices.js';
// The choices live in quantize-choices.ts, which has no zod: the CLI's help lists them without this schema.

const BLOCK_SIZE_EXPECTED = 'expected an integer >= 16 and a power of two';

const names = (what: string) => z.array(z.string({ error: `expected ${what} (a string)` }), { error: `expected a list of ${what}s` });

/** Per-channel weights unless asked otherwise, per mode: weight-only keeps per tensor (its historical default). */
const PER_CHANNEL_DEFAULT: Readonly<Record<QuantizeMode, boolean>> = { 'weight-only': false, dynamic: true, static: true };

/**
 * Options of quantizeModel, validated once (quantizeModel parses them; everything inside trusts
 * the parsed form). Defaults: mode weight-only, block size 32 (4-bit), minmax observer, QDQ
 * format, MatMulNBits for 4-bit MatMul, Cast+Mul for 8-bit weight-only weights, biases kept in
 * float, target portable.
 * - dtype: weight-only int8; dynamic and static: chosen by the target (chooseIntegerTypes), so
 *   the model's integer sums are exact on every CPU of the target.
 * - perChannel: per mode (weight-only per tensor; dynamic and static per channel).
 * - symmetric: weight-only symmetric for signed dtypes, asymmetric for unsigned (as ONNX
 *   Runtime's weight defaults); dynamic and static symmetric weights (chooseIntegerTypes).
 * - reduceRange: 7-bit weights; chosen by the target unless given.
 * The parsed form carries `integer` (the integer types and why) for dynamic and static modes.
 */
export const quantizeOptionsSchema = z
  .strictObject({
    mode: z.enum(QUANTIZE_MODES, { error: `expected mode ${QUANTIZE_MODES.join(' | ')}` }).default('weight-only'),
    dtype: z.enum(WEIGHT_DTYPES, { error: `expected dtype ${WEIGHT_DTYPES.join(' | ')}` }).optional(),
    perChannel: z.boolean({ error: 'expected true or false' }).optional(),
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
    /** The CPUs an integer model must be right on (dynamic and static modes). */
    target: z.enum(QUANTIZE_TARGETS, { error: `expected target ${QUANTIZE_TARGETS.join(' | ')}` }).default('portable'),
    /** 7-bit weights (ONNX Runtime's reduce_range); dynamic and static modes. */
    reduceRange: z.boolean({ error: 'expected true or false' }).optional(),
    /** Weight-only: how codes are chosen (see WEIGHT_METHODS). */
    method: z.enum(WEIGHT_METHODS, { error: `expected method ${WEIGHT_METHODS.join(' | ')}` }).default('rtn'),
    /** GPTQ dampening: this fraction of the mean diagonal of H is added to its diagonal. */
    damp: z.number({ error: 'expected a number' }).min(0, { error: 'expected a number >= 0' }).max(1, { error: 'expected a number <= 1' }).default(0.01),
    /** GPTQ: quantize columns in order of decreasing Hessian diagonal. */
    actOrder: z.boolean({ error: 'expected true or false' }).default(false),
    /**
     * GPTQ: the weight α of the float model's output in each layer's objective, (1 − α)·‖(W − Ŵ)x̃‖² +
     * α·‖Wx − Ŵx̃‖² with x̃ the layer's input in the partly quantized model and x in the float model
     * (GPTAQ's asymmetric calibration). 0: plain GPTQ.
     */
    floatTargets: z.number({ error: 'expected a number' }).min(0, { error: 'expected a number >= 0' }).max(1, { error: 'expected a number <= 1' }).default(0),
    /** Weight-only, 4 bits and fewer: raise an older model's ai.onnx opset to 21 so Conv, Gemm, LSTM weights can be blocked (else they stay float). */
    raiseOpset: z.boolean({ error: 'expected true or false' }).default(false),
  })
  .transform((o) => {
    const perChannel = o.perChannel ?? PER_CHANNEL_DEFAULT[o.mode];
    // Integer modes choose codes by rounding activations and weights alike: methods and opset raising are weight-only.
    if (o.mode !== 'weight-only' && o.method !== 'rtn') throw new QuantError('INVALID_CONFIG', `method ${o.method} applies to weight-only mode, got mode ${o.mode}`);
    // Only GPTQ fits a layer to targets: a setting no other method reads is refused, not ignored.
    if (o.floatTargets > 0 && o.method !== 'gptq') throw new QuantError('INVALID_CONFIG', `floatTargets applies to method gptq, got method ${o.method}`);
    if (o.mode !== 'weight-only' && o.raiseOpset) throw new QuantError('INVALID_CONFIG', `raiseOpset applies to weight-only mode, got mode ${o.mode}`);
    if (o.mode === 'weight-only') {
      // Below 4 bits a symmetric narrow grid wastes a level of 4 (int2: -1..1) or 8 (int3): asymmetric unless asked.
      if ((o.dtype === 'int3' || o.dtype === 'int2') && o.symmetric === undefined) o = { ...o, symmetric: false };
      // HQQ is an optimisation of each block's zero point: a symmetric grid (zero point fixed) leaves it nothing to fit.
      if (o.method === 'hqq' && o.symmetric === undefined) o = { ...o, symmetric: false };
      // The refit clips each 4-level block harder than RTN (lower weight error), and a deep network compounds it: the PP-OCR detector's output went to zero.
      if (o.method === 'hqq' && o.dtype === 'int2') throw new QuantError('INVALID_CONFIG', 'method hqq at dtype int2 is refused: its scale refit clips each 4-level block harder than rtn, and through a deep network the output collapses; use gptq or search for int2');
      return { ...o, dtype: o.dtype ?? 'int8', perChannel, reduceRange: o.reduceRange ?? false, integer: undefined as IntegerTypes | undefined };
    }
    // 4-bit dtypes are refused by the modes themselves, with the reason; the target does not apply to them.
    if (o.dtype !== undefined && isBlockDtype(o.dtype)) return { ...o, dtype: o.dtype, perChannel, reduceRange: o.reduceRange ?? false, integer: undefined as IntegerTypes | undefined };
    const integer = chooseIntegerTypes({ target: o.target, mode: o.mode, dtype: o.dtype, symmetric: o.symmetric, reduceRange: o.reduceRange });
    return { ...o, dtype: integer.weights as WeightDtype, symmetric: integer.weightSymmetric, perChannel, reduceRange: integer.reduceRange, integer: integer as IntegerTypes | undefined };
  });

export type QuantizeOptionsInput = z.input<typeof quantizeOptionsSchema>;
export type QuantizeOptions = z.output<typeof quantizeOptionsSchema>;

/** Parses options, or throws INVALID_CONFIG naming every bad field ("dtype: expected dtype int8 | …"). */
export function parseQuantizeOptions(input: unknown): QuantizeOptions {
  let r;
  try {
    r = quantizeOptionsSchema.safeParse(input ?? {});
  } catch (e) {
    // chooseIntegerTypes refuses a combination no CPU-independent model has, with the reason.
    if (e instanceof QuantError) throw new QuantError('INVALID_CONFIG', `invalid ONNX quantization options: ${e.message}`, { cause: e });
    throw e;
  }
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
