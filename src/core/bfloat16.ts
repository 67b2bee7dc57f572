import { QuantError } from './errors.js';
import { float64HighWord } from './float16.js';
import { roundHalfEven } from './round.js';

/*
 * bfloat16: the top 16 bits of a float32 (1 sign, 8 exponent, 7 mantissa bits), so it has float32's
 * range with 8 bits of precision. Conversions round to nearest, ties to even, on the dropped 16 bits
 * (as PyTorch's c10::BFloat16 and ml_dtypes do); NaN is handled first so a payload in the low bits
 * can never round up into Infinity, and comes out quiet with its sign and the top of its payload.
 */

const BF16_QUIET = 0x0040;

/** float32 bits → bfloat16 bits, round to nearest even. */
function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | BF16_QUIET) & 0xffff;
  // Adding 0x7fff plus the lowest kept bit rounds ties to even; overflow past the largest finite
  // value carries into the exponent and lands exactly on Infinity.
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bfloat16 bits → float32 bits (exact; sNaN quieted). */
function bf16BitsToF32Bits(b: number): number {
  const isNaN = (b & 0x7fff) > 0x7f80;
  return ((isNaN ? b | BF16_QUIET : b) << 16) >>> 0;
}

function checkOut(n: number, out: { length: number } | undefined): void {
  if (out !== undefined && out.length !== n) {
    throw new QuantError('SHAPE_MISMATCH', `output buffer has ${out.length} elements, the input has ${n}`);
  }
}

/** Rounds each float32 to the nearest bfloat16 (ties to even) and returns the raw bits. */
export function float32ToBfloat16Bits(x: Float32Array, out?: Uint16Array): Uint16Array {
  const n = x.length;
  checkOut(n, out);
  const result = out ?? new Uint16Array(n);
  const bits = new Uint32Array(x.buffer, x.byteOffset, n);
  for (let i = 0; i < n; i++) result[i] = f32BitsToBf16Bits(bits[i]);
  return result;
}

/** Widens bfloat16 bits to float32 values (exact: the bits shifted left by 16). */
export function bfloat16BitsToFloat32(bits: Uint16Array, out?: Float32Array): Float32Array {
  const n = bits.length;
  checkOut(n, out);
  const result = out ?? new Float32Array(n);
  const dst = new Uint32Array(result.buffer, result.byteOffset, n);
  for (let i = 0; i < n; i++) dst[i] = bf16BitsToF32Bits(bits[i]);
  return result;
}

/**
 * The bfloat16 nearest to a number (a float64), ties to even, rounded once from the exact value
 * (not through float32, which could round twice).
 */
export function toBfloat16Bits(v: number): number {
  const hi = float64HighWord(v);
  const sign = (hi >>> 16) & 0x8000;
  if (v !== v) return sign | 0x7f80 | BF16_QUIET | ((hi >>> 13) & 0x7f);
  const a = Math.abs(v);
  if (a < 2 ** -126) return sign | roundHalfEven(a * 2 ** 133);
  const e = ((hi >>> 20) & 0x7ff) - 1023;
  if (e > 127) return sign | 0x7f80;
  // q in [128, 256]; 256 carries into the exponent, and past e = 127 onto Infinity (0x7f80).
  const q = roundHalfEven(a * 2 ** (7 - e));
  return sign | (((e + 127) << 7) + q - 128);
}

/** The value of bfloat16 bits as a number. */
export function fromBfloat16Bits(b: number): number {
  const s = b & 0x8000 ? -1 : 1;
  const e = (b >>> 7) & 0xff;
  const m = b & 0x7f;
  if (e === 0xff) return m === 0 ? s * Infinity : NaN;
  return e === 0 ? s * m * 2 ** -133 : s * (128 + m) * 2 ** (e - 134);
}

/** Scalar form of the float32 bit conversion (x is float32 bits as an unsigned integer). */
export function float32BitsToBfloat16Bits(x: number): number {
  return f32BitsToBf16Bits(x >>> 0);
}

/** Scalar form of the widening to float32 bits. */
export function bfloat16BitsToFloat32Bits(b: number): number {
  return bf16BitsToF32Bits(b & 0xffff);
}
