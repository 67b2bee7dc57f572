import { QuantError } from './errors.js';
import { roundHalfEven } from './round.js';

/*
 * IEEE 754 binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. Largest finite
 * 65504 = (2 - 2^-10) · 2^15; smallest normal 2^-14; smallest subnormal 2^-24.
 *
 * Conversions round to nearest, ties to even, exactly as numpy's astype(np.float16) does, except
 * that a signalling NaN comes out quiet (IEEE 754 §6.2: an operation on a sNaN delivers a qNaN;
 * x86 F16C and ARM FCVT do the same, numpy's software path does not). NaN keeps its sign and the
 * top of its payload.
 */

const F32_QUIET = 0x00400000;
const F16_QUIET = 0x0200;

/** float32 bits → float16 bits, round to nearest even. */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const a = x & 0x7fffffff;
  if (a >= 0x7f800000) {
    return a === 0x7f800000 ? sign | 0x7c00 : sign | 0x7c00 | F16_QUIET | ((a >>> 13) & 0x3ff);
  }
  // 65520 = 0x477ff000 is halfway between 65504 and 2^16; the tie goes to the even Infinity.
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a >= 0x38800000) {
    // Normal: rebias the exponent (127 → 15) and round off 13 mantissa bits; a carry out of the
    // mantissa correctly bumps the exponent.
    const m = a - 0x38000000;
    return sign | ((m + 0x0fff + ((m >>> 13) & 1)) >>> 13);
  }
  // 2^-25 is halfway between 0 and the smallest subnormal; the tie goes to the even 0.
  if (a <= 0x33000000) return sign;
  // Subnormal: value = mant · 2^(e - 150) and the result counts units of 2^-24.
  const e = a >>> 23;
  const mant = (a & 0x7fffff) | 0x800000;
  const shift = 126 - e; // 14..24
  let h = mant >>> shift;
  const rem = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) === 1)) h++;
  return sign | h;
}

/** float16 bits → float32 bits (exact; sNaN quieted). */
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return (sign | 0x7f800000 | (m === 0 ? 0 : F32_QUIET | (m << 13))) >>> 0;
  if (e !== 0) return (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
  if (m === 0) return sign >>> 0;
  // Subnormal m · 2^-24 with its leading 1 at bit p becomes 1.f · 2^(p - 24).
  const p = 31 - Math.clz32(m);
  return (sign | ((p + 103) << 23) | (((m << (10 - p)) & 0x3ff) << 13)) >>> 0;
}

function checkOut(n: number, out: ArrayBufferView & { length: number } | undefined): void {
  if (out !== undefined && out.length !== n) {
    throw new QuantError('SHAPE_MISMATCH', `output buffer has ${out.length} elements, the input has ${n}`);
  }
}

/** Rounds each float32 to the nearest float16 (ties to even) and returns the raw bits. */
export function float32ToFloat16Bits(x: Float32Array, out?: Uint16Array): Uint16Array {
  const n = x.length;
  checkOut(n, out);
  const result = out ?? new Uint16Array(n);
  const bits = new Uint32Array(x.buffer, x.byteOffset, n);
  for (let i = 0; i < n; i++) result[i] = f32BitsToF16Bits(bits[i]);
  return result;
}

/** Widens float16 bits to float32 values (exact). */
export function float16BitsToFloat32(bits: Uint16Array, out?: Float32Array): Float32Array {
  const n = bits.length;
  checkOut(n, out);
  const result = out ?? new Float32Array(n);
  // Written through integer bits so NaN payloads survive (a float store may canonicalise them).
  const dst = new Uint32Array(result.buffer, result.byteOffset, n);
  for (let i = 0; i < n; i++) dst[i] = f16BitsToF32Bits(bits[i]);
  return result;
}

const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** The high 32 bits of a float64: sign, 11 exponent bits, top 20 mantissa bits. */
export function float64HighWord(v: number): number {
  scratch[0] = v;
  return scratchWords[HI];
}

/**
 * The float16 nearest to a number (a float64), ties to even, rounded once from the exact value
 * (not through float32, which could round twice). NaN keeps its sign and payload top, quieted.
 */
export function toFloat16Bits(v: number): number {
  const hi = float64HighWord(v);
  const sign = (hi >>> 16) & 0x8000;
  if (v !== v) return sign | 0x7c00 | F16_QUIET | ((hi >>> 10) & 0x3ff);
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24);
  const e = ((hi >>> 20) & 0x7ff) - 1023;
  // q in [1024, 2048]; 2048 carries into the exponent through the addition.
  const q = roundHalfEven(a * 2 ** (10 - e));
  return sign | (((e + 15) << 10) + q - 1024);
}

/** The value of float16 bits as a number: (-1)^s · 2^(e-15) · 1.m, or 2^-14 · 0.m when e = 0. */
export function fromFloat16Bits(b: number): number {
  const s = b & 0x8000 ? -1 : 1;
  const e = (b >>> 10) & 0x1f;
  const m = b & 0x3ff;
  if (e === 0x1f) return m === 0 ? s * Infinity : NaN;
  return e === 0 ? s * m * 2 ** -24 : s * (1024 + m) * 2 ** (e - 25);
}

/** Scalar form of the float32 bit conversion (x is float32 bits as an unsigned integer). */
export function float32BitsToFloat16Bits(x: number): number {
  return f32BitsToF16Bits(x >>> 0);
}

/** Scalar form of the widening to float32 bits. */
export function float16BitsToFloat32Bits(h: number): number {
  return f16BitsToF32Bits(h & 0xffff);
}
