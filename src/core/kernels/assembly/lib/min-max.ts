// Running per-parameter minima and maxima with Math.min/Math.max semantics: NaN propagates and
// -0 < +0. With finiteOnly, ±Infinity are skipped. Minima live at paramA, maxima at paramB.
import { paramA, paramB } from './state';

/*
 * Where the parameter is constant (a splat run) and ±Inf are skipped (finiteOnly), the values are
 * reduced as order keys (without finiteOnly, see minMaxBitsRun): the float's
 * bits with the magnitude bits flipped when negative, key = bits ^ ((bits >> 31) >>> 1). Signed
 * integer order on keys is the float order with -0 < +0, so a single i32x4.min_s / max_s does what
 * the many-instruction f32x4.min/max lowering does. NaN keys land outside [key(-Inf), key(+Inf)]
 * (above for a positive sign bit, below for a negative one), which is how NaN is detected.
 */
const KEY_POS_INF: i32 = 0x7f800000;
const KEY_NEG_INF: i32 = <i32>0x807fffff;

// @ts-ignore: decorator
@inline function toKey(bits: v128): v128 {
  return v128.xor(bits, i32x4.shr_u(i32x4.shr_s(bits, 31), 1));
}

// @ts-ignore: decorator
@inline function keyToFloat(key: i32): f32 {
  return reinterpret<f32>(key ^ <i32>(<u32>(key >> 31) >>> 1));
}

/** Folds a run's result into the running minimum and maximum of parameter p. */
// @ts-ignore: decorator
@inline function foldSplat(p: u32, nan: bool, lo: f32, hi: f32): void {
  const pa = paramA + (<usize>p << 2);
  const pb = paramB + (<usize>p << 2);
  if (nan) {
    store<f32>(pa, NaN);
    store<f32>(pb, NaN);
  } else {
    // f32.min/max: NaN-propagating with -0 < +0, as Math.min/Math.max on the running values.
    store<f32>(pa, min<f32>(load<f32>(pa), lo));
    store<f32>(pb, max<f32>(load<f32>(pb), hi));
  }
}

// @ts-ignore: decorator
@inline function swapHalves(v: v128): v128 {
  return i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
}

// @ts-ignore: decorator
@inline function swapPairs(v: v128): v128 {
  return i8x16.shuffle(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
}

// Horizontal reductions of two partial accumulators to one lane (lane 0), by halves then pairs.
// @ts-ignore: decorator
@inline function maxS(a: v128, b: v128): i32 {
  let v = i32x4.max_s(a, b);
  v = i32x4.max_s(v, swapHalves(v));
  return i32x4.extract_lane(i32x4.max_s(v, swapPairs(v)), 0);
}

// @ts-ignore: decorator
@inline function minS(a: v128, b: v128): i32 {
  let v = i32x4.min_s(a, b);
  v = i32x4.min_s(v, swapHalves(v));
  return i32x4.extract_lane(i32x4.min_s(v, swapPairs(v)), 0);
}

// @ts-ignore: decorator
@inline function maxU(a: v128, b: v128): u32 {
  let v = i32x4.max_u(a, b);
  v = i32x4.max_u(v, swapHalves(v));
  return <u32>i32x4.extract_lane(i32x4.max_u(v, swapPairs(v)), 0);
}

// @ts-ignore: decorator
@inline function minU(a: v128, b: v128): i32 {
  let v = i32x4.min_u(a, b);
  v = i32x4.min_u(v, swapHalves(v));
  return i32x4.extract_lane(i32x4.min_u(v, swapPairs(v)), 0);
}

/*
 * Without finiteOnly the float bits are reduced as they are, three ways: signed max, unsigned max
 * and unsigned min (three instructions a vector where order keys take five). Signed order is float
 * order among the non-negative (sign clear) values and puts every negative below them; unsigned
 * order puts every negative above every non-negative and, among negatives, grows with magnitude.
 * So with S = max_s, U = max_u, L = min_u over the bits:
 *   max = float(S) if S >= 0 (some value has its sign clear), else float(L) (all negative: the
 *         smallest magnitude);
 *   min = float(U) if U has its sign set (some negative: the largest magnitude; −0 alone gives
 *         −0, below +0 as Math.min has it), else float(L) (all non-negative: the smallest);
 *   NaN = S above +Inf's bits (a NaN with its sign clear) or U above −Inf's (sign set).
 */
const BITS_POS_INF: i32 = 0x7f800000;
const BITS_NEG_INF: u32 = 0xff800000;

// @ts-ignore: decorator
@inline function minMaxBitsRun(x: usize, n: u32, p: u32): void {
  // An empty run would read L's initial all-ones (a NaN's bits) as its extremes.
  if (n == 0) return;
  let s0 = i32x4.splat(i32.MIN_VALUE), s1 = s0;
  let u0 = i32x4.splat(0), u1 = u0;
  let l0 = i32x4.splat(-1), l1 = l0;
  let k: u32 = 0;
  for (; k + 16 <= n; k += 16) {
    const xp = x + (<usize>k << 2);
    const a = v128.load(xp);
    const b = v128.load(xp, 16);
    const c = v128.load(xp, 32);
    const d = v128.load(xp, 48);
    s0 = i32x4.max_s(s0, i32x4.max_s(a, b));
    s1 = i32x4.max_s(s1, i32x4.max_s(c, d));
    u0 = i32x4.max_u(u0, i32x4.max_u(a, b));
    u1 = i32x4.max_u(u1, i32x4.max_u(c, d));
    l0 = i32x4.min_u(l0, i32x4.min_u(a, b));
    l1 = i32x4.min_u(l1, i32x4.min_u(c, d));
  }
  for (; k < n; k++) {
    const a = v128.load32_splat(x + (<usize>k << 2));
    s0 = i32x4.max_s(s0, a);
    u0 = i32x4.max_u(u0, a);
    l0 = i32x4.min_u(l0, a);
  }
  const sMax = maxS(s0, s1);
  const uMax = maxU(u0, u1);
  const lMin = minU(l0, l1);
  const hi = reinterpret<f32>(sMax >= 0 ? sMax : lMin);
  const lo = reinterpret<f32>(uMax >= 0x80000000 ? <i32>uMax : lMin);
  foldSplat(p, sMax > BITS_POS_INF || uMax > BITS_NEG_INF, lo, hi);
}

/** Per-run minimum and maximum where the parameter is constant (Math.min/Math.max semantics, or skipping ±Inf). */
// @ts-ignore: decorator
@inline export function minMaxSplatRun(x: usize, n: u32, p: u32, finiteOnly: bool): void {
  if (!finiteOnly) {
    minMaxBitsRun(x, n, p);
    return;
  }
  const negInf = i32x4.splat(KEY_NEG_INF);
  const posInf = i32x4.splat(KEY_POS_INF);
  // Skipping -Inf for the minimum (and +Inf for the maximum) suffices: +Inf never lowers a minimum.
  const swap = v128.xor(negInf, posInf);
  let mn0 = posInf, mn1 = posInf, mx0 = negInf, mx1 = negInf;
  let k: u32 = 0;
  for (; k + 16 <= n; k += 16) {
    const xp = x + (<usize>k << 2);
    let a = toKey(v128.load(xp));
    let b = toKey(v128.load(xp, 16));
    let c = toKey(v128.load(xp, 32));
    let d = toKey(v128.load(xp, 48));
    mn0 = i32x4.min_s(mn0, i32x4.min_s(v128.xor(a, v128.and(i32x4.eq(a, negInf), swap)), v128.xor(b, v128.and(i32x4.eq(b, negInf), swap))));
    mn1 = i32x4.min_s(mn1, i32x4.min_s(v128.xor(c, v128.and(i32x4.eq(c, negInf), swap)), v128.xor(d, v128.and(i32x4.eq(d, negInf), swap))));
    mx0 = i32x4.max_s(mx0, i32x4.max_s(v128.xor(a, v128.and(i32x4.eq(a, posInf), swap)), v128.xor(b, v128.and(i32x4.eq(b, posInf), swap))));
    mx1 = i32x4.max_s(mx1, i32x4.max_s(v128.xor(c, v128.and(i32x4.eq(c, posInf), swap)), v128.xor(d, v128.and(i32x4.eq(d, posInf), swap))));
  }
  for (; k < n; k++) {
    const a = toKey(v128.load32_splat(x + (<usize>k << 2)));
    mn0 = i32x4.min_s(mn0, v128.xor(a, v128.and(i32x4.eq(a, negInf), swap)));
    mx0 = i32x4.max_s(mx0, v128.xor(a, v128.and(i32x4.eq(a, posInf), swap)));
  }
  const minKey = minS(mn0, mn1);
  const maxKey = maxS(mx0, mx1);
  foldSplat(p, minKey < KEY_NEG_INF || maxKey > KEY_POS_INF, keyToFloat(minKey), keyToFloat(maxKey));
}

/*
 * Where parameters run along with the elements (varyInner), the staged minima and maxima are
 * themselves kept as keys for the whole call (minMaxKeysIn / minMaxKeysOut), so each vector costs
 * a key transform and one integer min and max. A NaN in x shows at the end as a key outside
 * [key(-Inf), key(+Inf)] and makes both NaN. A NaN already in the running minimum (or maximum)
 * must stay NaN in that array alone, as Math.min/Math.max keep it: it is staged as the neutral key
 * and remembered in the spare slots after the maxima.
 */

/** Converts `count` staged float minima (at paramA) and maxima (at paramB) to keys in place. */
export function minMaxKeysIn(count: u32): void {
  const seen = paramB + (paramB - paramA);
  for (let k: u32 = 0; k < count; k++) {
    const off = <usize>k << 2;
    const lo = load<f32>(paramA + off);
    const hi = load<f32>(paramB + off);
    const lb = reinterpret<i32>(lo);
    const hb = reinterpret<i32>(hi);
    store<u8>(seen + k, (lo != lo ? 1 : 0) | (hi != hi ? 2 : 0));
    store<i32>(paramA + off, lo != lo ? KEY_POS_INF : lb ^ <i32>(<u32>(lb >> 31) >>> 1));
    store<i32>(paramB + off, hi != hi ? KEY_NEG_INF : hb ^ <i32>(<u32>(hb >> 31) >>> 1));
  }
}

/** Converts the keys back to floats; a parameter whose elements held a NaN gets NaN for both. */
export function minMaxKeysOut(count: u32): void {
  const seen = paramB + (paramB - paramA);
  for (let k: u32 = 0; k < count; k++) {
    const off = <usize>k << 2;
    const lo = load<i32>(paramA + off);
    const hi = load<i32>(paramB + off);
    const was = load<u8>(seen + k);
    const nan = lo < KEY_NEG_INF || hi > KEY_POS_INF;
    store<f32>(paramA + off, nan || (was & 1) != 0 ? NaN : keyToFloat(lo));
    store<f32>(paramB + off, nan || (was & 2) != 0 ? NaN : keyToFloat(hi));
  }
}

/** Element k folds into the keys of parameter p + k (between minMaxKeysIn and minMaxKeysOut). */
// @ts-ignore: decorator
@inline export function minMaxVaryRun(x: usize, n: u32, p: u32, finiteOnly: bool): void {
  const negInf = i32x4.splat(KEY_NEG_INF);
  const posInf = i32x4.splat(KEY_POS_INF);
  const swap = v128.xor(negInf, posInf);
  let k: u32 = 0;
  for (; k + 4 <= n; k += 4) {
    const a = toKey(v128.load(x + (<usize>k << 2)));
    const pa = paramA + (<usize>(p + k) << 2);
    const pb = paramB + (<usize>(p + k) << 2);
    if (finiteOnly) {
      v128.store(pa, i32x4.min_s(v128.load(pa), v128.xor(a, v128.and(i32x4.eq(a, negInf), swap))));
      v128.store(pb, i32x4.max_s(v128.load(pb), v128.xor(a, v128.and(i32x4.eq(a, posInf), swap))));
    } else {
      v128.store(pa, i32x4.min_s(v128.load(pa), a));
      v128.store(pb, i32x4.max_s(v128.load(pb), a));
    }
  }
  for (; k < n; k++) {
    const b = load<i32>(x + (<usize>k << 2));
    const key = b ^ <i32>(<u32>(b >> 31) >>> 1);
    const pa = paramA + (<usize>(p + k) << 2);
    const pb = paramB + (<usize>(p + k) << 2);
    if (!finiteOnly || key != KEY_NEG_INF) store<i32>(pa, min<i32>(load<i32>(pa), key));
    if (!finiteOnly || key != KEY_POS_INF) store<i32>(pb, max<i32>(load<i32>(pb), key));
  }
}

/** Rows folded together by minMaxRowsRun: each key vector loaded serves this many rows. */
const ROW_GROUP: u32 = 4;

/**
 * minMaxVaryRun over `rows` consecutive whole rows of `rowLen` elements that all fold into the
 * keys of parameters p .. p + rowLen − 1 (as quantizeRowsRun in affine.ts): ROW_GROUP rows at a
 * time, 8 columns at a step, the running keys of those columns loaded once, folded with each row
 * of the group and stored once, instead of a load and a store of both keys per row.
 */
// @ts-ignore: decorator
@inline export function minMaxRowsRun(x: usize, rows: u32, rowLen: u32, p: u32, finiteOnly: bool): void {
  const negInf = i32x4.splat(KEY_NEG_INF);
  const posInf = i32x4.splat(KEY_POS_INF);
  const swap = v128.xor(negInf, posInf);
  const xStride = <usize>rowLen << 2;
  for (let r: u32 = 0; r < rows; r += ROW_GROUP) {
    const g = min(ROW_GROUP, rows - r);
    const xg = x + <usize>r * xStride;
    let k: u32 = 0;
    for (; k + 8 <= rowLen; k += 8) {
      const pa = paramA + (<usize>(p + k) << 2);
      const pb = paramB + (<usize>(p + k) << 2);
      let mn0 = v128.load(pa);
      let mn1 = v128.load(pa, 16);
      let mx0 = v128.load(pb);
      let mx1 = v128.load(pb, 16);
      let xp = xg + (<usize>k << 2);
      for (let row: u32 = 0; row < g; row++) {
        const a = toKey(v128.load(xp));
        const b = toKey(v128.load(xp, 16));
        if (finiteOnly) {
          mn0 = i32x4.min_s(mn0, v128.xor(a, v128.and(i32x4.eq(a, negInf), swap)));
          mn1 = i32x4.min_s(mn1, v128.xor(b, v128.and(i32x4.eq(b, negInf), swap)));
          mx0 = i32x4.max_s(mx0, v128.xor(a, v128.and(i32x4.eq(a, posInf), swap)));
          mx1 = i32x4.max_s(mx1, v128.xor(b, v128.and(i32x4.eq(b, posInf), swap)));
        } else {
          mn0 = i32x4.min_s(mn0, a);
          mn1 = i32x4.min_s(mn1, b);
          mx0 = i32x4.max_s(mx0, a);
          mx1 = i32x4.max_s(mx1, b);
        }
        xp += xStride;
      }
      v128.store(pa, mn0);
      v128.store(pa, mn1, 16);
      v128.store(pb, mx0);
      v128.store(pb, mx1, 16);
    }
    if (k < rowLen) {
      for (let row: u32 = 0; row < g; row++) minMaxVaryRun(xg + <usize>row * xStride + (<usize>k << 2), rowLen - k, p + k, finiteOnly);
    }
  }
}
