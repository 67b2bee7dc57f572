// Scalar primitives of ggml-quants.c, emulated exactly in JavaScript numbers. Every value passed in
// is already a float32 (read from a Float32Array or rounded with Math.fround), and every float
// operation of the C code is rounded with Math.fround: a double result of +, -, *, / or sqrt of two
// float32 values rounds to the same float32 as the C float operation (double has more than twice
// the precision), and the shipped libggml-base is built without FMA contraction. C's truth tests of
// a float (`if (d)`, `d ? 1/d : 0`) hold for NaN, JavaScript's do not, so the ports spell `!== 0`:
// huge inputs overflow sums to infinity and reach NaN.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const i32 = new Int32Array(f32.buffer);

/** float32 bits of `v` (rounded to float32 first). */
export function floatBits(v: number): number {
  f32[0] = v;
  return u32[0];
}

/** The float32 whose bits are `bits`. */
export function bitsToFloat(bits: number): number {
  u32[0] = bits;
  return f32[0];
}

/**
 * ggml's nearest_int: adds 1.5·2^23 in float32 and reads the mantissa, which rounds half to even
 * for |v| ≤ 4194303. Outside that range (the C assert is compiled out) the same bit trick yields a
 * deterministic but meaningless integer, reproduced here because huge inputs reach it.
 */
export function nearestInt(v: number): number {
  const s = Math.fround(v + 12582912);
  if (v <= 4194303 && v >= -4194303) return s - 12582912;
  f32[0] = s;
  return (i32[0] & 0x007fffff) - 0x00400000;
}

/**
 * x86's cvttss2si, which GCC emits for a C cast from float to a narrower integer: truncation, with
 * NaN and anything outside int32 giving INT32_MIN. The caller keeps the low bits it needs.
 */
export function truncToInt32(v: number): number {
  return v > -2147483649 && v < 2147483648 ? Math.trunc(v) : -2147483648;
}

/** C's roundf: half away from zero, on a float32 value (exact: |v| + 0.5 is exact in double). */
export function roundf(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/**
 * ggml_compute_fp32_to_fp16 bit for bit, from float32 bits: round to nearest even, overflow to
 * infinity, float16 subnormals kept, NaN becomes 0x7E00 with the input's sign. Integer arithmetic
 * gives what ggml's float trick gives (the test holds them equal) without a float round trip.
 */
export function fp32BitsToFp16(w: number): number {
  const sign = (w >>> 16) & 0x8000;
  const a = w & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;
  // 65520 is halfway between 65504 and 65536, and ties go to the even pattern: infinity.
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a >= 0x38800000) return sign | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13);
  // Half of the smallest subnormal or less rounds to zero (the tie to even).
  if (a <= 0x33000000) return sign;
  const e = a >>> 23;
  const m = (a & 0x7fffff) | 0x800000;
  const shift = 126 - e;
  let h = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) === 1)) h++;
  return sign | h;
}

/** ggml_compute_fp32_to_fp16 of a float32 value (see {@link fp32BitsToFp16}). */
export function fp32ToFp16(v: number): number {
  f32[0] = v;
  return fp32BitsToFp16(u32[0]);
}

const FP16_TABLE = new Float32Array(65536);
for (let h = 0; h < 65536; h++) {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  FP16_TABLE[h] = e === 0 ? sign * m * 2 ** -24 : e === 31 ? (m === 0 ? sign * Infinity : NaN) : sign * (1024 + m) * 2 ** (e - 25);
}

/** ggml_compute_fp16_to_fp32: exact, every float16 is a float32. */
export function fp16ToFp32(h: number): number {
  return FP16_TABLE[h & 0xffff];
}

/** ggml_compute_fp32_to_bf16: round to nearest even on the upper 16 bits, NaN forced quiet. */
export function fp32ToBf16(v: number): number {
  f32[0] = v;
  const w = u32[0];
  if ((w & 0x7fffffff) > 0x7f800000) return ((w >>> 16) | 64) & 0xffff;
  return ((w + (0x7fff + ((w >>> 16) & 1))) >>> 16) & 0xffff;
}

/** bfloat16 bits to float32: the upper half of the float32's bits. */
export function bf16ToFp32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/** Little-endian float16 at `o`. */
export function readFp16(b: Uint8Array, o: number): number {
  return FP16_TABLE[b[o] | (b[o + 1] << 8)];
}

/** Writes ggml's float16 of `v` little-endian at `o`. */
export function writeFp16(b: Uint8Array, o: number, v: number): void {
  const h = fp32ToFp16(v);
  b[o] = h & 0xff;
  b[o + 1] = h >>> 8;
}
