import type { CodeArray, QuantDtype, QuantDtypeName } from '../core/dtypes.js';
import { codeStorageOf, getQuantDtype } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import type { Granularity } from '../core/layout.js';
import { normalizeAxis, PER_TENSOR } from '../core/layout.js';
import type { QParams } from '../core/qparams.js';
import { computeQParams, dequantize, fakeQuantize, quantize } from '../core/quantize.js';

const CODE_ARRAY_NAMES = { int8: 'Int8Array', uint8: 'Uint8Array', int16: 'Int16Array', uint16: 'Uint16Array' } as const;

/** pychop's Chopi options, camelCased. */
export interface IntegerQuantizerOptions {
  /** Bit width 2..16. Default 8. */
  readonly numBits?: number;
  /** Signed codes with zero point 0; otherwise unsigned codes with a fitted zero point. Default false. */
  readonly symmetric?: boolean;
  /** One scale and zero point per slice along channelDim. Default false. */
  readonly perChannel?: boolean;
  /** The channel axis (negative counts from the end), checked against each tensor's rank. Default 0. */
  readonly channelDim?: number;
}

/**
 * A small integer quantizer in the shape of pychop's Chopi: calibrate on a tensor, then quantize and
 * dequantize with the parameters found. A thin face over the core (computeQParams, quantize,
 * dequantize), so its numbers are the core's:
 *
 *   symmetric:  int<b>,  q in [−2^(b−1), 2^(b−1) − 1], scale = max|x| / ((qmax − qmin) / 2), zeroPoint 0
 *   asymmetric: uint<b>, q in [0, 2^b − 1],           scale = (max − min) / (2^b − 1),
 *               zeroPoint = round(−min / scale)        (an integer: 0.0 is exactly representable)
 *   q = clamp(roundHalfEven(x / scale) + zeroPoint),   x ≈ (q − zeroPoint) · scale
 *
 * with the range widened to contain 0, per tensor or per channel along channelDim. Codes come back
 * in the smallest typed array that holds them (Int8Array/Uint8Array up to 8 bits,
 * Int16Array/Uint16Array above). Three of pychop's bugs are absent by construction: its unsigned
 * range stopped at 127, its zero point was left fractional, and its codes were cast to int8 at
 * every bit width. Unlike Chopi, quantize does not silently calibrate on its own input: calling it
 * before calibrate is a NOT_CALIBRATED error, so parameters never change behind the caller's back.
 *
 * Example: new IntegerQuantizer({ numBits: 8 }) calibrated on [[0.1, −0.2], [0.3, 0.4]] gives
 * scale 0.6/255, zeroPoint 85 and codes [[127, 0], [213, 255]] (0.1 / scale is just under 42.5 in float32).
 */
export class IntegerQuantizer {
  readonly numBits: number;
  readonly symmetric: boolean;
  readonly perChannel: boolean;
  readonly channelDim: number;
  readonly dtype: QuantDtype;
  #params: QParams | undefined;

  constructor(options: IntegerQuantizerOptions = {}) {
    const numBits = options.numBits ?? 8;
    if (!Number.isInteger(numBits) || numBits < 2 || numBits > 16) {
      throw new QuantError('INVALID_CONFIG', `numBits must be an integer in 2..16, got ${String(numBits)}`);
    }
    const channelDim = options.channelDim ?? 0;
    if (!Number.isInteger(channelDim)) {
      throw new QuantError('INVALID_CONFIG', `channelDim must be an integer axis, got ${String(channelDim)}`);
    }
    this.numBits = numBits;
    this.symmetric = options.symmetric ?? false;
    this.perChannel = options.perChannel ?? false;
    this.channelDim = channelDim;
    this.dtype = getQuantDtype(`${this.symmetric ? 'int' : 'uint'}${numBits}` as QuantDtypeName);
  }

  get qmin(): number {
    return this.dtype.qmin;
  }

  get qmax(): number {
    return this.dtype.qmax;
  }

  /** The parameters calibrate chose (an immutable snapshot), or undefined before calibration. */
  get params(): QParams | undefined {
    return this.#params;
  }

  /** Chooses scale and zero point from x (replacing any earlier calibration) and returns them. */
  calibrate(x: Float32Array, shape: readonly number[] = [x.length]): QParams {
    this.#params = computeQParams(x, shape, { dtype: this.dtype.name, symmetric: this.symmetric, granularity: this.granularity(shape) });
    return this.#params;
  }

  /** Codes of x with the calibrated parameters; values outside the calibrated range saturate. */
  quantize(x: Float32Array, shape: readonly number[] = [x.length]): CodeArray {
    return quantize(x, shape, { params: this.calibrated('quantize') }).codes;
  }

  /** (q − zeroPoint) · scale with the calibrated parameters. */
  dequantize(q: CodeArray, shape: readonly number[] = [q.length]): Float32Array {
    const params = this.calibrated('dequantize');
    // Codes read from the wrong width would be reinterpreted silently (200 as int8 is −56).
    if (codeStorageOf(q) !== this.dtype.storage) {
      throw new QuantError('INVALID_ARGUMENT', `${this.dtype.name} codes come in a ${CODE_ARRAY_NAMES[this.dtype.storage]}, got a ${q.constructor.name}`);
    }
    return dequantize(q, shape, params);
  }

  /** dequantize(quantize(x)) in one pass. */
  quantizeDequantize(x: Float32Array, shape: readonly number[] = [x.length]): Float32Array {
    return fakeQuantize(x, shape, { params: this.calibrated('quantizeDequantize') }).values;
  }

  private granularity(shape: readonly number[]): Granularity {
    if (!this.perChannel) return PER_TENSOR;
    return { kind: 'per-axis', axis: normalizeAxis(this.channelDim, shape.length) };
  }

  private calibrated(what: string): QParams {
    if (this.#params === undefined) {
      throw new QuantError('NOT_CALIBRATED', `${what} needs parameters: call calibrate(x, shape) first`);
    }
    return this.#params;
  }
}
