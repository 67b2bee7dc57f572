// What the quantize loops share: four codes from a division, and 16 codes stored in their type.

/**
 * Codes for four lanes: y clamped, rounded half to even and moved to integers by adding
 * m = 1.5 · 2^23 (exact: the clamped |y| < 2^22, so the sum lies in [2^23, 2^24) where the ulp is
 * 1), then + zp via k = bits(m) − zp. NaN lanes become 0, which is what storing NaN into a typed
 * array gives.
 */
// @ts-ignore: decorator
@inline export function quantize4(x: v128, s: v128, lo: v128, hi: v128, k: v128, m: v128): v128 {
  const y = f32x4.div(x, s);
  const t = f32x4.add(f32x4.pmin(f32x4.pmax(y, lo), hi), m);
  return v128.and(i32x4.sub(t, k), f32x4.eq(y, y));
}

/**
 * Stores 16 codes (four i32x4 already inside [qmin, qmax] ⊆ the range of T, so the saturating
 * narrows are exact).
 */
// @ts-ignore: decorator
@inline export function storeCodes<T>(ptr: usize, a: v128, b: v128, c: v128, d: v128): void {
  if (sizeof<T>() == 1) {
    const ab = i16x8.narrow_i32x4_s(a, b);
    const cd = i16x8.narrow_i32x4_s(c, d);
    v128.store(ptr, isSigned<T>() ? i8x16.narrow_i16x8_s(ab, cd) : i8x16.narrow_i16x8_u(ab, cd));
  } else if (isSigned<T>()) {
    v128.store(ptr, i16x8.narrow_i32x4_s(a, b));
    v128.store(ptr, i16x8.narrow_i32x4_s(c, d), 16);
  } else {
    v128.store(ptr, i16x8.narrow_i32x4_u(a, b));
    v128.store(ptr, i16x8.narrow_i32x4_u(c, d), 16);
  }
}
