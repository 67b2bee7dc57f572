// Affine quantize, dequantize and fake-quantize over one run of elements that share a parameter
// (vary = false: a splat) or whose parameters run along with them (vary = true: vector loads).
// The runs are @inline and called with a constant `vary`, so each path compiles without branches.
import { BACKOFF, BRACKET_MIN_RUN, bracketFor, bracketSegment, MAX_FALLBACKS, SEGMENT } from './bracket';
import { quantize4, storeCodes } from './codes';
import { magic, paramA, paramB, qmax, qmin } from './state';

/*
 * Quantizing is done in the shifted domain y = x / s (IEEE float32 division, as ONNX
 * QuantizeLinear divides; a reciprocal multiply would differ in the last bit), clamping y to
 * [qmin − zp, qmax − zp] before rounding. For integer bounds that is the same as rounding first:
 * clamp(round(y) + zp, qmin, qmax) = round(clamp(y, qmin − zp, qmax − zp)) + zp. pmax(y, lo) and
 * pmin(y, hi) are single instructions (unlike f32x4.min/max) and, with y first, pass NaN through.
 *
 * Every loop takes `m = f32x4.splat(magic)` before it starts: a v128.const inside a loop is
 * rebuilt by V8 on every iteration (a GP immediate moved into an XMM register, then a pinsrq),
 * and Binaryen folds any value it can prove constant back into the loop. `magic` is an exported
 * mutable global, which it cannot.
 */

/**
 * The bounds and offset of quantize4 for lanes with their own int32 zero point z: qmin − z and
 * qmax − z (exact in float32 as |z| ≤ 2^21) and bits(m) − z, derived in registers. A convert and
 * three subtractions cost less than streaming three more parameter arrays beside x: five streams
 * (16 KiB of data beside 64 KiB of parameters for a row of 4096) measured 1.4-2x a copy.
 */
// @ts-ignore: decorator
@inline function quantizeVary4(x: v128, s: v128, z: v128, qminV: v128, qmaxV: v128, m: v128): v128 {
  const zf = f32x4.convert_i32x4_s(z);
  return quantize4(x, s, f32x4.sub(qminV, zf), f32x4.sub(qmaxV, zf), i32x4.sub(m, z), m);
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

/** Stores 8 codes (two i32x4 inside [qmin, qmax] ⊆ the range of T). */
// @ts-ignore: decorator
@inline function storeCodes8<T>(ptr: usize, a: v128, b: v128): void {
  if (sizeof<T>() == 1) {
    const ab = i16x8.narrow_i32x4_s(a, b);
    v128.store64_lane(ptr, isSigned<T>() ? i8x16.narrow_i16x8_s(ab, ab) : i8x16.narrow_i16x8_u(ab, ab), 0);
  } else {
    v128.store(ptr, isSigned<T>() ? i16x8.narrow_i32x4_s(a, b) : i16x8.narrow_i32x4_u(a, b));
  }
}

/** One code through the vector path (tails), parameter at byte offset `off` of the staged arrays. */
// @ts-ignore: decorator
@inline function quantizeOneVary<T>(x: usize, q: usize, off: usize, qminV: v128, qmaxV: v128, m: v128): void {
  const v = quantizeVary4(v128.load32_splat(x), v128.load32_splat(paramA + off), v128.load32_splat(paramB + off), qminV, qmaxV, m);
  store<T>(q, <T>i32x4.extract_lane(v, 0));
}

/**
 * q = clamp(roundHalfEven(x / scale) + zeroPoint, qmin, qmax) for n elements from parameter p.
 * With one parameter for the run and at least BRACKET_MIN_RUN elements, the reciprocal bracket of
 * bracket.ts decides most groups of 16 without dividing (same codes, proven per group).
 */
// @ts-ignore: decorator
@inline export function quantizeRun<T>(x: usize, q: usize, n: u32, p: u32, vary: bool): void {
  const m = f32x4.splat(magic);
  const qminV = f32x4.splat(qmin);
  const qmaxV = f32x4.splat(qmax);
  let k: u32 = 0;
  if (vary) {
    for (; k + 16 <= n; k += 16) {
      // Two parameter streams (scale, zero point) beside the data; the bounds come from the zero
      // point in registers (quantizeVary4).
      const xp = x + (<usize>k << 2);
      const off = <usize>(p + k) << 2;
      const sp = paramA + off;
      const zp = paramB + off;
      storeCodes<T>(
        q + <usize>k * sizeof<T>(),
        quantizeVary4(v128.load(xp), v128.load(sp), v128.load(zp), qminV, qmaxV, m),
        quantizeVary4(v128.load(xp, 16), v128.load(sp, 16), v128.load(zp, 16), qminV, qmaxV, m),
        quantizeVary4(v128.load(xp, 32), v128.load(sp, 32), v128.load(zp, 32), qminV, qmaxV, m),
        quantizeVary4(v128.load(xp, 48), v128.load(sp, 48), v128.load(zp, 48), qminV, qmaxV, m),
      );
    }
    // The tail goes through the same vector ops so it cannot drift from the main loop.
    for (; k < n; k++) quantizeOneVary<T>(x + (<usize>k << 2), q + <usize>k * sizeof<T>(), <usize>(p + k) << 2, qminV, qmaxV, m);
    return;
  }
  const zp = load<i32>(paramB + (<usize>p << 2));
  const s = load<f32>(paramA + (<usize>p << 2));
  const zp0 = i32x4.splat(zp);
  const s0 = f32x4.splat(s);
  const zf0 = f32x4.convert_i32x4_s(zp0);
  const lo0 = f32x4.sub(qminV, zf0);
  const hi0 = f32x4.sub(qmaxV, zf0);
  const k0 = i32x4.sub(m, zp0);
  const bulk = n & ~15;
  if (n >= BRACKET_MIN_RUN && bracketFor(s, zp, qmin, qmax)) {
    let backoff: u32 = 0;
    while (k < bulk) {
      const len = min(SEGMENT, bulk - k);
      const xp = x + (<usize>k << 2);
      const qp = q + <usize>k * sizeof<T>();
      if (backoff > 0) {
        backoff--;
        divideRun<T>(xp, qp, len, s0, lo0, hi0, k0, m);
      } else if (bracketSegment<T>(xp, qp, len) > MAX_FALLBACKS) {
        backoff = BACKOFF;
      }
      k += len;
    }
  } else {
    divideRun<T>(x, q, bulk, s0, lo0, hi0, k0, m);
    k = bulk;
  }
  for (; k < n; k++) {
    store<T>(q + <usize>k * sizeof<T>(), <T>i32x4.extract_lane(quantize4(v128.load32_splat(x + (<usize>k << 2)), s0, lo0, hi0, k0, m), 0));
  }
}

/** quantize4 over n elements (a multiple of 16) that share one scale and zero point. */
// @ts-ignore: decorator
@inline function divideRun<T>(x: usize, q: usize, n: u32, s: v128, lo: v128, hi: v128, k: v128, m: v128): void {
  for (let i: u32 = 0; i < n; i += 16) {
    const xp = x + (<usize>i << 2);
    storeCodes<T>(q + <usize>i * sizeof<T>(), quantize4(v128.load(xp), s, lo, hi, k, m), quantize4(v128.load(xp, 16), s, lo, hi, k, m), quantize4(v128.load(xp, 32), s, lo, hi, k, m), quantize4(v128.load(xp, 48), s, lo, hi, k, m));
  }
}

/** Rows quantized together by quantizeRowsRun: each parameter vector loaded serves this many rows. */
const ROW_GROUP: u32 = 4;

/**
 * quantizeRun with per-element parameters over `rows` consecutive whole rows of `rowLen` elements
 * that all use parameters p .. p + rowLen − 1 (the rows of one block, or every row of a tensor
 * quantized per channel along its last axis). Rows go ROW_GROUP at a time, 8 columns at a step:
 * the scales and zero points of those 8 columns are loaded and their bounds derived once, then
 * applied to the 8 elements of each row of the group. One row at a time (quantizeRun), a row of
 * 4096 streams 32 KiB of parameters beside 16 KiB of data, more than L1 keeps from one row to
 * the next; this reads them a quarter as often and derives the bounds a quarter as often.
 */
// @ts-ignore: decorator
@inline export function quantizeRowsRun<T>(x: usize, q: usize, rows: u32, rowLen: u32, p: u32): void {
  const m = f32x4.splat(magic);
  const qminV = f32x4.splat(qmin);
  const qmaxV = f32x4.splat(qmax);
  const sBase = paramA + (<usize>p << 2);
  const zBase = paramB + (<usize>p << 2);
  const xStride = <usize>rowLen << 2;
  const qStride = <usize>rowLen * sizeof<T>();
  for (let r: u32 = 0; r < rows; r += ROW_GROUP) {
    const g = min(ROW_GROUP, rows - r);
    const xg = x + <usize>r * xStride;
    const qg = q + <usize>r * qStride;
    let k: u32 = 0;
    for (; k + 8 <= rowLen; k += 8) {
      const off = <usize>k << 2;
      const s0 = v128.load(sBase + off);
      const s1 = v128.load(sBase + off, 16);
      const z0 = v128.load(zBase + off);
      const z1 = v128.load(zBase + off, 16);
      const f0 = f32x4.convert_i32x4_s(z0);
      const f1 = f32x4.convert_i32x4_s(z1);
      const lo0 = f32x4.sub(qminV, f0);
      const lo1 = f32x4.sub(qminV, f1);
      const hi0 = f32x4.sub(qmaxV, f0);
      const hi1 = f32x4.sub(qmaxV, f1);
      const k0 = i32x4.sub(m, z0);
      const k1 = i32x4.sub(m, z1);
      let xp = xg + off;
      let qp = qg + <usize>k * sizeof<T>();
      for (let row: u32 = 0; row < g; row++) {
        storeCodes8<T>(qp, quantize4(v128.load(xp), s0, lo0, hi0, k0, m), quantize4(v128.load(xp, 16), s1, lo1, hi1, k1, m));
        xp += xStride;
        qp += qStride;
      }
    }
    for (; k < rowLen; k++) {
      for (let row: u32 = 0; row < g; row++) {
        quantizeOneVary<T>(xg + <usize>row * xStride + (<usize>k << 2), qg + <usize>row * qStride + <usize>k * sizeof<T>(), <usize>(p + k) << 2, qminV, qmaxV, m);
      }
    }
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
  const qminV = f32x4.splat(qmin);
  const qmaxV = f32x4.splat(qmax);
  let k: u32 = 0;
  for (; k + 8 <= n; k += 8) {
    const xp = x + (<usize>k << 2);
    const op = out + (<usize>k << 2);
    if (vary) {
      const off = <usize>(p + k) << 2;
      const sp = paramA + off;
      const zp = paramB + off;
      const z1 = f32x4.convert_i32x4_s(v128.load(zp));
      const z2 = f32x4.convert_i32x4_s(v128.load(zp, 16));
      v128.store(op, fakeQuantize4(v128.load(xp), v128.load(sp), f32x4.sub(qminV, z1), f32x4.sub(qmaxV, z1)));
      v128.store(op, fakeQuantize4(v128.load(xp, 16), v128.load(sp, 16), f32x4.sub(qminV, z2), f32x4.sub(qmaxV, z2)), 16);
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
