// Affine quantize, dequantize and fake-quantize over one run of elements that share a parameter
// (vary = false: a splat) or whose parameters run along with them (vary = true: vector loads).
// The runs are @inline and called with a constant `vary`, so each path compiles without branches.
import { MAGIC_BITS, paramA, paramB, paramHiShift, paramIntShift, paramLoShift, qmax, qmin } from './state';

/** 1.5 · 2^23: adding it to a float32 v with |v| < 2^22 rounds v half to even and leaves v + 2^22 in the low mantissa bits. */
const MAGIC: f32 = 12582912.0;

/*
 * Quantizing is done in the shifted domain y = x / s (IEEE float32 division, as ONNX
 * QuantizeLinear divides; a reciprocal multiply would differ in the last bit), clamping y to
 * [qmin − zp, qmax − zp] before rounding. For integer bounds that is the same as rounding first:
 * clamp(round(y) + zp, qmin, qmax) = round(clamp(y, qmin − zp, qmax − zp)) + zp. pmax(y, lo) and
 * pmin(y, hi) are single instructions (unlike f32x4.min/max) and, with y first, pass NaN through.
 */

/**
 * Codes for four lanes: y clamped, rounded half to even and moved to integers by the MAGIC add
 * (exact: the clamped |y| < 2^22), then + zp via k = MAGIC_BITS − zp. NaN lanes become 0, which is
 * what storing NaN into a typed array gives.
 */
// @ts-ignore: decorator
@inline function quantize4(x: v128, s: v128, lo: v128, hi: v128, k: v128): v128 {
  const y = f32x4.div(x, s);
  const t = f32x4.add(f32x4.pmin(f32x4.pmax(y, lo), hi), f32x4.splat(MAGIC));
  return v128.and(i32x4.sub(t, k), f32x4.eq(y, y));
}

/**
 * (clamp(roundHalfEven(y) + zp, qmin, qmax) − zp) · s = round(clamp(y, lo, hi)) · s. The + 0 turns
 * a rounded −0 into +0, as the reference's (r + zp) − zp does; NaN stays NaN.
 */
// @ts-ignore: decorator
@inline function fakeQuantize4(x: v128, s: v128, lo: v128, hi: v128): v128 {
  const y = f32x4.div(x, s);
  return f32x4.mul(f32x4.add(f32x4.nearest(f32x4.pmin(f32x4.pmax(y, lo), hi)), f32x4.splat(<f32>0)), s);
}

// @ts-ignore: decorator
@inline function scaleAt(p: u32): v128 {
  return v128.load(paramA + (<usize>p << 2));
}

// @ts-ignore: decorator
@inline function zeroPointAt(p: u32): v128 {
  return v128.load(paramB + (<usize>p << 2));
}

/**
 * Stores 16 codes (four i32x4 already inside [qmin, qmax] ⊆ the range of T, so the saturating
 * narrows are exact).
 */
// @ts-ignore: decorator
@inline function storeCodes<T>(ptr: usize, a: v128, b: v128, c: v128, d: v128): void {
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

/** q = clamp(roundHalfEven(x / scale) + zeroPoint, qmin, qmax) for n elements from parameter p. */
// @ts-ignore: decorator
@inline export function quantizeRun<T>(x: usize, q: usize, n: u32, p: u32, vary: bool): void {
  const zp0 = load<i32>(paramB + (<usize>p << 2));
  const s0 = f32x4.splat(load<f32>(paramA + (<usize>p << 2)));
  const lo0 = f32x4.splat(qmin - <f32>zp0);
  const hi0 = f32x4.splat(qmax - <f32>zp0);
  const k0 = i32x4.splat(MAGIC_BITS - zp0);
  let k: u32 = 0;
  for (; k + 16 <= n; k += 16) {
    const xp = x + (<usize>k << 2);
    let a: v128, b: v128, c: v128, d: v128;
    if (vary) {
      const off = <usize>(p + k) << 2;
      const sp = paramA + off;
      const lp = paramLoShift + off;
      const hp = paramHiShift + off;
      const ip = paramIntShift + off;
      a = quantize4(v128.load(xp), v128.load(sp), v128.load(lp), v128.load(hp), v128.load(ip));
      b = quantize4(v128.load(xp, 16), v128.load(sp, 16), v128.load(lp, 16), v128.load(hp, 16), v128.load(ip, 16));
      c = quantize4(v128.load(xp, 32), v128.load(sp, 32), v128.load(lp, 32), v128.load(hp, 32), v128.load(ip, 32));
      d = quantize4(v128.load(xp, 48), v128.load(sp, 48), v128.load(lp, 48), v128.load(hp, 48), v128.load(ip, 48));
    } else {
      a = quantize4(v128.load(xp), s0, lo0, hi0, k0);
      b = quantize4(v128.load(xp, 16), s0, lo0, hi0, k0);
      c = quantize4(v128.load(xp, 32), s0, lo0, hi0, k0);
      d = quantize4(v128.load(xp, 48), s0, lo0, hi0, k0);
    }
    storeCodes<T>(q + <usize>k * sizeof<T>(), a, b, c, d);
  }
  for (; k < n; k++) {
    let v: v128;
    // The tail goes through the same vector ops so it cannot drift from the main loop.
    const xv = f32x4.splat(load<f32>(x + (<usize>k << 2)));
    if (vary) {
      const z = load<i32>(paramB + (<usize>(p + k) << 2));
      const s = f32x4.splat(load<f32>(paramA + (<usize>(p + k) << 2)));
      v = quantize4(xv, s, f32x4.splat(qmin - <f32>z), f32x4.splat(qmax - <f32>z), i32x4.splat(MAGIC_BITS - z));
    } else {
      v = quantize4(xv, s0, lo0, hi0, k0);
    }
    store<T>(q + <usize>k * sizeof<T>(), <T>i32x4.extract_lane(v, 0));
  }
}

/** x = float32(q − zeroPoint) · scale (q − zeroPoint is exact in int32 and in float32 for |zp| ≤ 2^22). */
// @ts-ignore: decorator
@inline export function dequantizeRun<T>(q: usize, out: usize, n: u32, p: u32, vary: bool): void {
  let s = f32x4.splat(load<f32>(paramA + (<usize>p << 2)));
  let z = i32x4.splat(load<i32>(paramB + (<usize>p << 2)));
  let k: u32 = 0;
  for (; k + 16 <= n; k += 16) {
    const qp = q + <usize>k * sizeof<T>();
    let a: v128, b: v128, c: v128, d: v128;
    if (sizeof<T>() == 1) {
      const v = v128.load(qp);
      const l = isSigned<T>() ? i16x8.extend_low_i8x16_s(v) : i16x8.extend_low_i8x16_u(v);
      const h = isSigned<T>() ? i16x8.extend_high_i8x16_s(v) : i16x8.extend_high_i8x16_u(v);
      a = i32x4.extend_low_i16x8_s(l);
      b = i32x4.extend_high_i16x8_s(l);
      c = i32x4.extend_low_i16x8_s(h);
      d = i32x4.extend_high_i16x8_s(h);
    } else {
      const l = v128.load(qp);
      const h = v128.load(qp, 16);
      a = isSigned<T>() ? i32x4.extend_low_i16x8_s(l) : i32x4.extend_low_i16x8_u(l);
      b = isSigned<T>() ? i32x4.extend_high_i16x8_s(l) : i32x4.extend_high_i16x8_u(l);
      c = isSigned<T>() ? i32x4.extend_low_i16x8_s(h) : i32x4.extend_low_i16x8_u(h);
      d = isSigned<T>() ? i32x4.extend_high_i16x8_s(h) : i32x4.extend_high_i16x8_u(h);
    }
    const op = out + (<usize>k << 2);
    if (vary) {
      const pk = p + k;
      v128.store(op, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(a, zeroPointAt(pk))), scaleAt(pk)));
      v128.store(op, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(b, zeroPointAt(pk + 4))), scaleAt(pk + 4)), 16);
      v128.store(op, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(c, zeroPointAt(pk + 8))), scaleAt(pk + 8)), 32);
      v128.store(op, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(d, zeroPointAt(pk + 12))), scaleAt(pk + 12)), 48);
    } else {
      v128.store(op, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(a, z)), s));
      v128.store(op, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(b, z)), s), 16);
      v128.store(op, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(c, z)), s), 32);
      v128.store(op, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(d, z)), s), 48);
    }
  }
  for (; k < n; k++) {
    if (vary) {
      s = f32x4.splat(load<f32>(paramA + (<usize>(p + k) << 2)));
      z = i32x4.splat(load<i32>(paramB + (<usize>(p + k) << 2)));
    }
    const v = i32x4.splat(<i32>load<T>(q + <usize>k * sizeof<T>()));
    store<f32>(out + (<usize>k << 2), f32x4.extract_lane(f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(v, z)), s), 0));
  }
}

/** (clamp(roundHalfEven(x / scale) + zeroPoint, qmin, qmax) − zeroPoint) · scale, all in float32; NaN stays NaN. */
// @ts-ignore: decorator
@inline export function fakeQuantizeRun(x: usize, out: usize, n: u32, p: u32, vary: bool): void {
  const zf0 = <f32>load<i32>(paramB + (<usize>p << 2));
  const s0 = f32x4.splat(load<f32>(paramA + (<usize>p << 2)));
  const lo0 = f32x4.splat(qmin - zf0);
  const hi0 = f32x4.splat(qmax - zf0);
  let k: u32 = 0;
  for (; k + 8 <= n; k += 8) {
    const xp = x + (<usize>k << 2);
    const op = out + (<usize>k << 2);
    if (vary) {
      const off = <usize>(p + k) << 2;
      const sp = paramA + off;
      const lp = paramLoShift + off;
      const hp = paramHiShift + off;
      v128.store(op, fakeQuantize4(v128.load(xp), v128.load(sp), v128.load(lp), v128.load(hp)));
      v128.store(op, fakeQuantize4(v128.load(xp, 16), v128.load(sp, 16), v128.load(lp, 16), v128.load(hp, 16)), 16);
    } else {
      v128.store(op, fakeQuantize4(v128.load(xp), s0, lo0, hi0));
      v128.store(op, fakeQuantize4(v128.load(xp, 16), s0, lo0, hi0), 16);
    }
  }
  for (; k < n; k++) {
    const xv = f32x4.splat(load<f32>(x + (<usize>k << 2)));
    let v: v128;
    if (vary) {
      const zf = <f32>load<i32>(paramB + (<usize>(p + k) << 2));
      v = fakeQuantize4(xv, f32x4.splat(load<f32>(paramA + (<usize>(p + k) << 2))), f32x4.splat(qmin - zf), f32x4.splat(qmax - zf));
    } else {
      v = fakeQuantize4(xv, s0, lo0, hi0);
    }
    store<f32>(out + (<usize>k << 2), f32x4.extract_lane(v, 0));
  }
}
