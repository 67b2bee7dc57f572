import { QuantError } from './errors.js';
import type { Granularity } from './layout.js';
import { blockLayout, paramIndex, PER_TENSOR, shapeSize } from './layout.js';
import { roundHalfEven } from './round.js';

const f32 = Math.fround;

/**
 * Which special values a small float format spends codes on:
 * - 'ieee': exponent all ones is ±Infinity (mantissa 0) or NaN, as IEEE 754 (float8e5m2);
 * - 'fn':   finite only; exponent and mantissa all ones is NaN (float8e4m3fn);
 * - 'fnuz': finite only, no negative zero; the code 1000…0 is the one NaN (the *fnuz types);
 * - 'none': every code is a finite number (float4e2m1).
 */
export type FloatSpecials = 'ieee' | 'fn' | 'fnuz' | 'none';

export interface FloatFormat {
  readonly name: string;
  /** Total width: 1 sign bit + exponentBits + mantissaBits. */
  readonly bits: number;
  readonly exponentBits: number;
  readonly mantissaBits: number;
  readonly bias: number;
  readonly specials: FloatSpecials;
  /** Largest finite value (FLT_MAX of the ONNX Cast table). */
  readonly maxFinite: number;
  /** Code of +maxFinite; the negative one is this with the sign bit set. */
  readonly maxCode: number;
  /** Code written for NaN (ONNX: sign | 0x7F for fn and ieee, 0x80 for fnuz, +max for float4e2m1). */
  readonly nanCode: (negative: boolean) => number;
}

/**
 * Describes a sign–exponent–mantissa format. value = (-1)^s · 2^(e - bias) · (1 + m / 2^M) for
 * e > 0, and (-1)^s · 2^(1 - bias) · m / 2^M for e = 0 (subnormals).
 * Example: defineFloatFormat('float8e4m3fn', 4, 3, 7, 'fn').maxFinite === 448.
 */
export function defineFloatFormat(name: string, exponentBits: number, mantissaBits: number, bias: number, specials: FloatSpecials): FloatFormat {
  const bits = 1 + exponentBits + mantissaBits;
  const expMax = 2 ** exponentBits - 1;
  const mantMax = 2 ** mantissaBits - 1;
  // The top exponent holds normal numbers unless IEEE reserves it; 'fn' also loses its top mantissa to NaN.
  const topExp = specials === 'ieee' ? expMax - 1 : expMax;
  const topMant = specials === 'fn' ? mantMax - 1 : mantMax;
  const maxCode = topExp * 2 ** mantissaBits + topMant;
  const maxFinite = (1 + topMant / 2 ** mantissaBits) * 2 ** (topExp - bias);
  const signBit = 2 ** (bits - 1);
  const nanCode =
    specials === 'fnuz' ? () => signBit : specials === 'none' ? () => maxCode : (negative: boolean) => (negative ? signBit : 0) + signBit - 1;
  return Object.freeze({ name, bits, exponentBits, mantissaBits, bias, specials, maxFinite, maxCode, nanCode });
}

/** ONNX's float8 types, and float4e2m1 which is converted by the same rules. */
export const FLOAT8_FORMATS = Object.freeze({
  float8e4m3fn: defineFloatFormat('float8e4m3fn', 4, 3, 7, 'fn'),
  float8e4m3fnuz: defineFloatFormat('float8e4m3fnuz', 4, 3, 8, 'fnuz'),
  float8e5m2: defineFloatFormat('float8e5m2', 5, 2, 15, 'ieee'),
  float8e5m2fnuz: defineFloatFormat('float8e5m2fnuz', 5, 2, 16, 'fnuz'),
  float4e2m1: defineFloatFormat('float4e2m1', 2, 1, 1, 'none'),
});

export type Float8Name = keyof typeof FLOAT8_FORMATS;
export const FLOAT8_NAMES = Object.keys(FLOAT8_FORMATS) as Float8Name[];

/** Looks a format up by name; an unknown name is an error that lists the known ones. */
export function getFloat8Format(name: string): FloatFormat {
  if (!Object.prototype.hasOwnProperty.call(FLOAT8_FORMATS, name)) {
    throw new QuantError('UNKNOWN_DTYPE', `unknown float8 format '${name}': expected one of ${FLOAT8_NAMES.join(', ')}`);
  }
  return FLOAT8_FORMATS[name as Float8Name];
}

const view = new DataView(new ArrayBuffer(8));

/** floor(log2(a)) for a finite a > 0, read from the float64 exponent field (exact, unlike Math.log2). */
function exponentOf(a: number): number {
  view.setFloat64(0, a);
  return ((view.getUint32(0) >>> 20) & 0x7ff) - 1023;
}

/**
 * x (a float32 value) to a code of `format`, rounding to nearest with ties to even, with ONNX's
 * Cast rules. [x] below is x rounded to the format's mantissa with an unbounded exponent:
 *
 *   saturate (default):  [x] beyond ±maxFinite → ±maxFinite; ±Inf → ±maxFinite (NaN for fnuz)
 *   saturate = false:    [x] beyond or ±Inf → ±Inf (ieee) or NaN (fn, fnuz); float4e2m1 always clamps
 *   NaN → NaN (float4e2m1, which has none, gives +maxFinite); -0 → -0 except fnuz (→ +0).
 *
 * Example: float32ToFloat8(100, FLOAT8_FORMATS.float8e4m3fn) is the code of 96 (100 is the tie
 * between 96 and 104; 96 has the even mantissa).
 */
export function float32ToFloat8(x: number, format: FloatFormat, saturate = true): number {
  const signBit = 2 ** (format.bits - 1);
  const negative = x < 0 || Object.is(x, -0);
  const sign = negative ? signBit : 0;
  if (x !== x) return format.nanCode(negative);
  const a = Math.abs(x);
  const overflow = (): number => {
    if (saturate || format.specials === 'none') return sign + format.maxCode;
    return format.specials === 'ieee' ? sign + format.maxCode + 1 : format.nanCode(negative);
  };
  if (a === Infinity) return saturate && format.specials === 'fnuz' ? format.nanCode(negative) : overflow();
  const m = format.mantissaBits;
  const minExp = 1 - format.bias;
  // Quantum of the binade of a (subnormals share the smallest one); a / quantum is exact in float64.
  const quantum = 2 ** (Math.max(a === 0 ? minExp : exponentOf(a), minExp) - m);
  const r = roundHalfEven(a / quantum) * quantum;
  if (r > format.maxFinite) return overflow();
  if (r === 0) return format.specials === 'fnuz' ? 0 : sign;
  const e = exponentOf(r);
  if (e < minExp) return sign + r / quantum;
  return sign + (e + format.bias) * 2 ** m + (r / 2 ** (e - m) - 2 ** m);
}

/** A code of `format` to its value (exact in float32). */
export function float8ToFloat32(code: number, format: FloatFormat): number {
  const m = format.mantissaBits;
  const signBit = 2 ** (format.bits - 1);
  const negative = code >= signBit;
  const mag = negative ? code - signBit : code;
  const e = Math.floor(mag / 2 ** m);
  const mant = mag - e * 2 ** m;
  const expMax = 2 ** format.exponentBits - 1;
  if (format.specials === 'ieee' && e === expMax) return mant === 0 ? (negative ? -Infinity : Infinity) : NaN;
  if (format.specials === 'fn' && e === expMax && mant === 2 ** m - 1) return NaN;
  if (format.specials === 'fnuz' && code === signBit) return NaN;
  const v = e === 0 ? mant * 2 ** (1 - format.bias - m) : (1 + mant / 2 ** m) * 2 ** (e - format.bias);
  return negative ? -v : v;
}

export interface Float8QuantizeOptions {
  readonly format: Float8Name;
  /** One scale per parameter, flat in C order over the granularity's parameter shape. */
  readonly scale: Float32Array;
  /** Zero points as codes of `format` (ONNX allows them; they are normally 0). Default: none. */
  readonly zeroPoint?: Uint8Array;
  /** Default per-tensor. */
  readonly granularity?: Granularity;
}

function checkParams(n: number, shape: readonly number[], opts: Float8QuantizeOptions) {
  const format = getFloat8Format(opts.format);
  const layout = blockLayout(shape, opts.granularity ?? PER_TENSOR);
  if (shapeSize(shape) !== n) {
    throw new QuantError('SHAPE_MISMATCH', `shape [${shape.join(', ')}] has ${shapeSize(shape)} elements but the data has ${n}`);
  }
  if (opts.scale.length !== layout.paramCount || (opts.zeroPoint && opts.zeroPoint.length !== layout.paramCount)) {
    throw new QuantError(
      'SHAPE_MISMATCH',
      `expected ${layout.paramCount} scales and zero points (parameter shape [${layout.paramShape.join(', ')}]), got ${opts.scale.length} scales and ${opts.zeroPoint?.length ?? 'no'} zero points`,
    );
  }
  let zeroPoint: Float32Array | undefined;
  if (opts.zeroPoint) {
    zeroPoint = new Float32Array(layout.paramCount);
    for (let p = 0; p < layout.paramCount; p++) zeroPoint[p] = float8ToFloat32(checkedCode(opts.zeroPoint[p], format, 'zero point'), format);
  }
  return { format, layout, zeroPoint };
}

function checkedCode(code: number, format: FloatFormat, what: string): number {
  if (code >= 2 ** format.bits) {
    throw new QuantError('INVALID_ARGUMENT', `${what} code ${code} does not fit ${format.name} (${format.bits} bits)`);
  }
  return code;
}

/**
 * ONNX QuantizeLinear to a float8 (or float4e2m1) type: y = cast(x / scale + zeroPoint), the
 * division and the addition in float32, the cast by float32ToFloat8 (round to nearest even;
 * `saturate` as ONNX's attribute, default true). Without a zero point nothing is added, so -0 stays
 * -0 as in ONNX's reference (-0 + 0 would be +0). NaN and infinities follow the Cast table rather
 * than being errors, because these formats can represent them. Returns one code per element.
 * Example: x = [0, 1, 2, 1e5, 200], scale 2, float8e4m3fn → the codes of [0, 0.5, 1, 448, 96].
 */
export function quantizeFloat8(
  x: Float32Array,
  shape: readonly number[],
  opts: Float8QuantizeOptions & { saturate?: boolean; out?: Uint8Array },
): Uint8Array {
  const { format, layout, zeroPoint } = checkParams(x.length, shape, opts);
  const out = opts.out ?? new Uint8Array(x.length);
  if (!(out instanceof Uint8Array) || out.length !== x.length) {
    throw new QuantError('INVALID_ARGUMENT', `output array must be a Uint8Array of ${x.length} elements`);
  }
  const saturate = opts.saturate ?? true;
  for (let j = 0; j < x.length; j++) {
    const p = paramIndex(layout, j);
    const v = f32(x[j] / opts.scale[p]);
    out[j] = float32ToFloat8(zeroPoint ? f32(v + zeroPoint[p]) : v, format, saturate);
  }
  return out;
}

/** ONNX DequantizeLinear from a float8 (or float4e2m1) type: x = (value(q) − value(zeroPoint)) · scale in float32. */
export function dequantizeFloat8(
  codes: Uint8Array,
  shape: readonly number[],
  opts: Float8QuantizeOptions & { out?: Float32Array },
): Float32Array {
  const { format, layout, zeroPoint } = checkParams(codes.length, shape, opts);
  const out = opts.out ?? new Float32Array(codes.length);
  if (!(out instanceof Float32Array) || out.length !== codes.length) {
    throw new QuantError('INVALID_ARGUMENT', `output array must be a Float32Array of ${codes.length} elements`);
  }
  for (let j = 0; j < codes.length; j++) {
    const p = paramIndex(layout, j);
    const v = float8ToFloat32(checkedCode(codes[j], format, 'input'), format);
    out[j] = f32((zeroPoint ? f32(v - zeroPoint[p]) : v) * opts.scale[p]);
  }
  return out;
}
