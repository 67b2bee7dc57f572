// Affine quantize, dequantize and fake-quantize over one run of elements that share a parameter
// (vary = false: a splat) or whose parameters run along with them (vary = true: vector loads).
// The runs are @inline and called with a constant `vary`, so each path compiles without branches.
import { paramA, paramB, qmax, qmin } from './state';

/**
 * clamp(nearest(x / s) + zp, lo, hi) in float32. The division is IEEE float32 division (ONNX
 * QuantizeLinear divides; a reciprocal multiply would differ in the last bit). f32x4.min/max
 * propagate NaN, so a NaN input stays NaN here.
 */
// @ts-ignore: decorator
@inline export function roundClamp(x: v128, s: v128, zp: v128, lo: v128, hi: v128): v128 {
  return f32x4.min(f32x4.max(f32x4.add(f32x4.nearest(f32x4.div(x, s)), zp), lo), hi);
}

/** The lanes as integers; NaN saturates to 0, which is what storing NaN into a typed array gives. */
// @ts-ignore: decorator
@inline function toInt(v: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(v);
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
  const lo = f32x4.splat(qmin);
  const hi = f32x4.splat(qmax);
  let s = f32x4.splat(load<f32>(paramA + (<usize>p << 2)));
  let z = f32x4.convert_i32x4_s(i32x4.splat(load<i32>(paramB + (<usize>p << 2))));
  let k: u32 = 0;
  for (; k + 16 <= n; k += 16) {
    const xp = x + (<usize>k << 2);
    let a: v128, b: v128, c: v128, d: v128;
    if (vary) {
      const pk = p + k;
      a = toInt(roundClamp(v128.load(xp), scaleAt(pk), f32x4.convert_i32x4_s(zeroPointAt(pk)), lo, hi));
      b = toInt(roundClamp(v128.load(xp, 16), scaleAt(pk + 4), f32x4.convert_i32x4_s(zeroPointAt(pk + 4)), lo, hi));
      c = toInt(roundClamp(v128.load(xp, 32), scaleAt(pk + 8), f32x4.convert_i32x4_s(zeroPointAt(pk + 8)), lo, hi));
      d = toInt(roundClamp(v128.load(xp, 48), scaleAt(pk + 12), f32x4.convert_i32x4_s(zeroPointAt(pk + 12)), lo, hi));
    } else {
      a = toInt(roundClamp(v128.load(xp), s, z, lo, hi));
      b = toInt(roundClamp(v128.load(xp, 16), s, z, lo, hi));
      c = toInt(roundClamp(v128.load(xp, 32), s, z, lo, hi));
      d = toInt(roundClamp(v128.load(xp, 48), s, z, lo, hi));
    }
    storeCodes<T>(q + <usize>k * sizeof<T>(), a, b, c, d);
  }
  for (; k < n; k++) {
    if (vary) {
      s = f32x4.splat(load<f32>(paramA + (<usize>(p + k) << 2)));
      z = f32x4.convert_i32x4_s(i32x4.splat(load<i32>(paramB + (<usize>(p + k) << 2))));
    }
    // The tail goes through the same vector ops so it cannot drift from the main loop.
    const v = toInt(roundClamp(f32x4.splat(load<f32>(x + (<usize>k << 2))), s, z, lo, hi));
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
  const lo = f32x4.splat(qmin);
  const hi = f32x4.splat(qmax);
  let s = f32x4.splat(load<f32>(paramA + (<usize>p << 2)));
  let z = f32x4.convert_i32x4_s(i32x4.splat(load<i32>(paramB + (<usize>p << 2))));
  let k: u32 = 0;
  for (; k + 8 <= n; k += 8) {
    const xp = x + (<usize>k << 2);
    const op = out + (<usize>k << 2);
    if (vary) {
      const s0 = scaleAt(p + k);
      const s1 = scaleAt(p + k + 4);
      const z0 = f32x4.convert_i32x4_s(zeroPointAt(p + k));
      const z1 = f32x4.convert_i32x4_s(zeroPointAt(p + k + 4));
      v128.store(op, f32x4.mul(f32x4.sub(roundClamp(v128.load(xp), s0, z0, lo, hi), z0), s0));
      v128.store(op, f32x4.mul(f32x4.sub(roundClamp(v128.load(xp, 16), s1, z1, lo, hi), z1), s1), 16);
    } else {
      v128.store(op, f32x4.mul(f32x4.sub(roundClamp(v128.load(xp), s, z, lo, hi), z), s));
      v128.store(op, f32x4.mul(f32x4.sub(roundClamp(v128.load(xp, 16), s, z, lo, hi), z), s), 16);
    }
  }
  for (; k < n; k++) {
    if (vary) {
      s = f32x4.splat(load<f32>(paramA + (<usize>(p + k) << 2)));
      z = f32x4.convert_i32x4_s(i32x4.splat(load<i32>(paramB + (<usize>(p + k) << 2))));
    }
    const v = f32x4.mul(f32x4.sub(roundClamp(f32x4.splat(load<f32>(x + (<usize>k << 2))), s, z, lo, hi), z), s);
    store<f32>(out + (<usize>k << 2), f32x4.extract_lane(v, 0));
  }
}
