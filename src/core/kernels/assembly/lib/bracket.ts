// Exact per-tensor quantize without a division per element: a reciprocal bracket that proves, for
// 16 values at a time, that the division would round to the same codes, and divides only where it
// cannot prove it.
import { quantize4, storeCodes } from './codes';
import { magic } from './state';

/*
 * Why. f32x4.div issues once per three cycles here, so the division loop (affine.ts) spends 12
 * cycles per 16 codes at the divider while the other pipes idle. Multiplying by 1/s instead is not
 * exact: fl(x · fl(1/s)) differs from fl(x / s) in the last bit often enough to move a code across a
 * rounding boundary. But the code only depends on which side of the half-integers x / s falls.
 *
 * How. With r = 1/s (float64), rLo = f32(r · (1 − 2^-20)) and rHi = f32(r · (1 + 2^-20)) bracket
 * the quotient: y1 = fl(x · rLo) and y2 = fl(x · rHi) lie on either side of D = fl(x / s) (for
 * x < 0 they swap sides), since each of the three roundings moves a normal value by at most 2^-24
 * relative and the bracket is 2^-20 wide on each side. Rounding to an integer, g(v) = fl(v + m) with
 * m = 1.5 · 2^23, is monotone, so g(y1) == g(y2) means g(D) is that same value, the one the division
 * loop rounds to. (Subnormal products lie far inside (−1/2, 1/2), as does D, and all round to 0;
 * rounding boundaries are normal numbers, where the relative bounds hold.) Where g(y1) != g(y2) (a
 * half-integer inside the bracket, about 2^-19 · |y| wide: one lane in a few thousand for codes up
 * to 255; NaN, as NaN != NaN; any |y| ≥ 2^21, whose bracket spans whole ulps of g) the 16 values
 * are divided.
 *
 * The clamp. The code is c = bits(g(y1)) − (bits(m) − zp) in int32: round(y) + zp for g in
 * [2^23, 2^24), where the ulp is 1, and beyond it still ordered with g, because the bits of
 * non-negative floats order as the floats do, without wrapping (bits ≤ 0x7f800000). g is never
 * a negative finite float here (that needs y < −1.5 · 2^23, which divides, as above), and −Inf (both
 * products overflowing) has int32 bits −2^23, which stays below every code. So clamping c to
 * [qmin, qmax] clamps y as the division loop does: after the first, saturating, narrow to 16-bit
 * lanes, which keeps that order and leaves half as many vectors to clamp.
 *
 * When the scale leaves no normal bracket (|1/s| outside float32's normal range) the caller divides.
 * Data made to sit on half-integers (say integers quantized with scale 2) would divide in most
 * groups and pay for both paths: a segment with more than MAX_FALLBACKS divided groups sends the
 * next BACKOFF segments to the division loop, so such data costs about what division alone does.
 */

/** Elements per segment: the unit in which fallbacks are counted. */
export const SEGMENT: u32 = 4096;
/** Divided groups of 16 (of SEGMENT / 16 = 256) above which the following segments divide outright. */
export const MAX_FALLBACKS: u32 = 16;
/** Segments that go to the division loop after a segment over MAX_FALLBACKS. */
export const BACKOFF: u32 = 8;
/** Shortest run worth the scalar set-up (a float64 division) of the bracket. */
export const BRACKET_MIN_RUN: u32 = 256;

// The run's parameters. The loop reads them only on its rare fallback branch, which also
// reassigns the loop's splats from them: that makes the splats loop-carried values, which V8 keeps
// in registers instead of rebuilding them in every iteration (it did, from function arguments).
let bScale: f32 = 1;
let bLo: f32 = 0;
let bHi: f32 = 0;
let bZero: i32 = 0;
let bRLo: f32 = 0;
let bRHi: f32 = 0;
let bQmin: i32 = 0;
let bQmax: i32 = 0;

/**
 * Sets the bracket for scale s and zero point zp with codes in [qmin, qmax]; false when s leaves
 * no normal float32 bracket (then the caller divides).
 */
// @ts-ignore: decorator
@inline export function bracketFor(s: f32, zp: i32, qmin: f32, qmax: f32): bool {
  const r = 1.0 / <f64>s;
  const rLo = <f32>(r * (1.0 - 0.00000095367431640625));
  const rHi = <f32>(r * (1.0 + 0.00000095367431640625));
  // NaN and non-positive scales fail the first test, overflowing reciprocals the second.
  if (!(rLo >= <f32>1.1754943508222875e-38) || !(rHi <= f32.MAX_VALUE)) return false;
  bScale = s;
  bLo = qmin - <f32>zp;
  bHi = qmax - <f32>zp;
  bZero = zp;
  bRLo = rLo;
  bRHi = rHi;
  bQmin = <i32>qmin;
  bQmax = <i32>qmax;
  return true;
}

// @ts-ignore: decorator
@inline function rounded(x: v128, r: v128, m: v128): v128 {
  return f32x4.add(f32x4.mul(x, r), m);
}

/**
 * Stores 16 codes given as int32 offsets from the float bits of their rounded values, clamped to
 * [qmin, qmax] after the first (saturating) narrow, on two vectors of 16-bit lanes instead of four
 * of 32: `lo`, `hi` are qmin, qmax splatted to i16x8 (for uint16 codes, as unsigned 16-bit lanes).
 */
// @ts-ignore: decorator
@inline function storeClamped<T>(ptr: usize, a: v128, b: v128, c: v128, d: v128, lo: v128, hi: v128): void {
  if (sizeof<T>() == 1) {
    const ab = i16x8.min_s(i16x8.max_s(i16x8.narrow_i32x4_s(a, b), lo), hi);
    const cd = i16x8.min_s(i16x8.max_s(i16x8.narrow_i32x4_s(c, d), lo), hi);
    v128.store(ptr, isSigned<T>() ? i8x16.narrow_i16x8_s(ab, cd) : i8x16.narrow_i16x8_u(ab, cd));
  } else if (isSigned<T>()) {
    v128.store(ptr, i16x8.min_s(i16x8.max_s(i16x8.narrow_i32x4_s(a, b), lo), hi));
    v128.store(ptr, i16x8.min_s(i16x8.max_s(i16x8.narrow_i32x4_s(c, d), lo), hi), 16);
  } else {
    v128.store(ptr, i16x8.min_u(i16x8.max_u(i16x8.narrow_i32x4_u(a, b), lo), hi));
    v128.store(ptr, i16x8.min_u(i16x8.max_u(i16x8.narrow_i32x4_u(c, d), lo), hi), 16);
  }
}

/**
 * Quantizes n elements (a multiple of 16) with the parameters of the last bracketFor, dividing the
 * groups of 16 the bracket cannot decide. Returns how many groups of 16 were divided.
 */
// @ts-ignore: decorator
@inline export function bracketSegment<T>(x: usize, q: usize, n: u32): u32 {
  let m = f32x4.splat(magic);
  let rLo = f32x4.splat(bRLo);
  let rHi = f32x4.splat(bRHi);
  let k = i32x4.sub(m, i32x4.splat(bZero));
  let qLo = i16x8.splat(<i16>bQmin);
  let qHi = i16x8.splat(<i16>bQmax);
  let divided: u32 = 0;
  for (let i: u32 = 0; i < n; i += 16) {
    const xp = x + (<usize>i << 2);
    const qp = q + <usize>i * sizeof<T>();
    const x0 = v128.load(xp);
    const x1 = v128.load(xp, 16);
    const x2 = v128.load(xp, 32);
    const x3 = v128.load(xp, 48);
    const a = rounded(x0, rLo, m);
    const b = rounded(x1, rLo, m);
    const c = rounded(x2, rLo, m);
    const d = rounded(x3, rLo, m);
    const same = v128.and(
      v128.and(f32x4.eq(a, rounded(x0, rHi, m)), f32x4.eq(b, rounded(x1, rHi, m))),
      v128.and(f32x4.eq(c, rounded(x2, rHi, m)), f32x4.eq(d, rounded(x3, rHi, m))),
    );
    if (i32x4.bitmask(same) == 15) {
      storeClamped<T>(qp, i32x4.sub(a, k), i32x4.sub(b, k), i32x4.sub(c, k), i32x4.sub(d, k), qLo, qHi);
    } else {
      divided++;
      divide16<T>(xp, qp);
      m = f32x4.splat(magic);
      rLo = f32x4.splat(bRLo);
      rHi = f32x4.splat(bRHi);
      k = i32x4.sub(m, i32x4.splat(bZero));
      qLo = i16x8.splat(<i16>bQmin);
      qHi = i16x8.splat(<i16>bQmax);
    }
  }
  return divided;
}

/** The division loop's codes for 16 values, with the run's parameters. */
// @ts-ignore: decorator
@inline function divide16<T>(xp: usize, qp: usize): void {
  const m = f32x4.splat(magic);
  const s = f32x4.splat(bScale);
  const lo = f32x4.splat(bLo);
  const hi = f32x4.splat(bHi);
  const k = i32x4.sub(m, i32x4.splat(bZero));
  storeCodes<T>(qp, quantize4(v128.load(xp), s, lo, hi, k, m), quantize4(v128.load(xp, 16), s, lo, hi, k, m), quantize4(v128.load(xp, 32), s, lo, hi, k, m), quantize4(v128.load(xp, 48), s, lo, hi, k, m));
}
