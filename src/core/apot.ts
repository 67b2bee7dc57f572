import { QuantError } from './errors.js';

const f32 = Math.fround;

/**
 * How to build an additive-powers-of-two (APoT) level set (Li, Dong & Wang, ICLR 2020,
 * https://arxiv.org/abs/1909.13144), as PyTorch's experimental APoTObserver does.
 */
export interface ApotOptions {
  /** Bit width b, 2..16. */
  readonly bits: number;
  /** Bits per additive term k, 1..b, dividing b: there are n = b / k terms. */
  readonly k: number;
  /** Clipping level: the largest level (up to float32 rounding of gamma). Default max |x| of the data. */
  readonly alpha?: number;
  /** Levels on both sides of 0 (each term may be negated). Default false (levels in [0, alpha]). */
  readonly signed?: boolean;
}

/** A built level set, ready for quantizing: everything is float32 except the exact midpoints. */
export interface ApotLevels {
  readonly bits: number;
  readonly k: number;
  /** Number of additive terms, b / k. */
  readonly n: number;
  readonly signed: boolean;
  /** float32 clipping level. */
  readonly alpha: number;
  /** float32 normalisation: gamma = alpha / (2 − 2^(1−n)), so the largest level is gamma · Σ 2^−i ≈ alpha. */
  readonly gamma: number;
  /** The distinct levels, ascending. */
  readonly levels: Float32Array;
  /** midpoints[i] = (levels[i] + levels[i+1]) / 2, exact in float64: the decision thresholds. */
  readonly midpoints: Float64Array;
}

/** The most levels a set may have (signed sets with large n·2^k grow combinatorially). */
export const APOT_MAX_LEVELS = 1 << 20;
// Cap on partial sums before deduplication, so a hopeless (bits, k) fails fast instead of exhausting memory.
const MAX_PARTIAL_SUMS = 1 << 22;

/** max |x| over x, the alpha PyTorch's APoTObserver takes (max(−min, max)). NaN and ±Infinity are errors. */
export function apotAlpha(x: Float32Array): number {
  if (x.length === 0) throw new QuantError('EMPTY_INPUT', 'cannot take alpha (max |x|) of an empty tensor');
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]);
    if (!(a <= m)) {
      if (a !== a) throw new QuantError('NAN_INPUT', `input contains NaN at index ${i}`, { details: { index: i } });
      if (a === Infinity) throw new QuantError('INF_INPUT', `input contains ${x[i]} at index ${i}`, { details: { index: i } });
      m = a;
    }
  }
  return m;
}

/**
 * The APoT level set for bit width b and term width k (n = b / k terms), as the APoT paper and
 * PyTorch's APoTObserver build it. Term i (0 ≤ i < n) takes a value from
 *
 *   P_i = {0} ∪ { 2^−(i + j·n) : j = 0 … 2^k − 2 }          (unsigned)
 *   P_i = {0} ∪ { ±2^−(i + j·n) : j = 0 … 2^k − 2 }         (signed)
 *
 * and each level is gamma · (p_0 + p_1 + … + p_{n−1}) over every choice of one p_i from each P_i,
 * with gamma = alpha / Σ_i 2^−i = alpha / (2 − 2^(1−n)), the sum of each set's largest element,
 * so the largest level is alpha (up to float32 rounding of gamma and of the product).
 *
 * Arithmetic is PyTorch's: the elements are float32, each sum is accumulated in float32 left to
 * right from 0, gamma = fround(alpha / pSum) and each level = fround(gamma · sum). The result is
 * the sorted set of distinct levels (PyTorch keeps duplicates, which signed sets have, e.g.
 * 1 − 1/2 = 0 + 1/2; they name the same value, so one index each suffices). Unsigned sets have
 * exactly 2^b levels while every sum fits float32's 24-bit significand, i.e. n·(2^k − 1) ≤ 24;
 * past that the float32 accumulation rounds some sums together (bits 8, k 4 gives 247 levels).
 *
 * Example: bits 4, k 2, alpha 1.5 → gamma 1 and the 16 levels 0, 1/32, 1/16, 3/32, 1/8, 3/16, 1/4,
 * 9/32, 3/8, 1/2, 9/16, 3/4, 1, 33/32, 9/8, 3/2 (see docs/apot.md).
 *
 * Without opts.alpha, alpha is max |x| of `data`; alpha 0 gives the single level 0.
 */
export function apotLevels(opts: ApotOptions, data?: Float32Array): ApotLevels {
  const { bits, k } = opts;
  const signed = opts.signed ?? false;
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) {
    throw new QuantError('INVALID_ARGUMENT', `APoT bits must be an integer in 2..16, got ${bits}`);
  }
  if (!Number.isInteger(k) || k < 1 || k > bits || bits % k !== 0) {
    throw new QuantError('INVALID_ARGUMENT', `APoT k must be an integer in 1..${bits} that divides bits (${bits}), got ${k}`);
  }
  let alpha: number;
  if (opts.alpha !== undefined) {
    if (!Number.isFinite(opts.alpha) || opts.alpha < 0) {
      throw new QuantError('INVALID_ARGUMENT', `APoT alpha must be a finite number >= 0, got ${opts.alpha}`);
    }
    alpha = f32(opts.alpha);
  } else if (data !== undefined) {
    alpha = apotAlpha(data);
  } else {
    throw new QuantError('INVALID_ARGUMENT', 'apotLevels needs alpha or data to take alpha (max |x|) from');
  }
  const n = bits / k;

  let sums: Float64Array = new Float64Array([0]);
  let pSum = 0;
  for (let i = 0; i < n; i++) {
    const terms = termSet(i, n, k, signed);
    pSum += f32(2 ** -i);
    if (sums.length * terms.length > MAX_PARTIAL_SUMS) {
      throw new QuantError('UNSUPPORTED', `APoT with bits ${bits}, k ${k}${signed ? ', signed' : ''} has too many levels (more than ${APOT_MAX_LEVELS})`);
    }
    const next = new Float64Array(sums.length * terms.length);
    let w = 0;
    for (let s = 0; s < sums.length; s++) {
      for (let t = 0; t < terms.length; t++) next[w++] = f32(sums[s] + terms[t]);
    }
    // Only the running float32 sum matters for the rest of the accumulation, so deduplicating
    // partial sums reproduces the full Cartesian product without enumerating it.
    sums = sortedUnique(next);
  }
  if (sums.length > APOT_MAX_LEVELS) {
    throw new QuantError('UNSUPPORTED', `APoT with bits ${bits}, k ${k}${signed ? ', signed' : ''} has ${sums.length} levels, more than ${APOT_MAX_LEVELS}`);
  }
  const gamma = f32(alpha / f32(pSum));
  const scaled = new Float64Array(sums.length);
  for (let i = 0; i < sums.length; i++) scaled[i] = f32(gamma * sums[i]);
  // Scaling is monotone, but rounding can merge neighbours (and gamma 0 merges all of them).
  const levels = Float32Array.from(sortedUnique(scaled));
  const midpoints = new Float64Array(Math.max(levels.length - 1, 0));
  for (let i = 0; i < midpoints.length; i++) midpoints[i] = (levels[i] + levels[i + 1]) / 2;
  return Object.freeze({ bits, k, n, signed, alpha, gamma, levels, midpoints });
}

function termSet(i: number, n: number, k: number, signed: boolean): Float64Array {
  const count = 2 ** k - 1;
  const out = new Float64Array(1 + count * (signed ? 2 : 1));
  let w = 1;
  for (let j = 0; j < count; j++) {
    // 2^-e underflows to 0 (or a subnormal) in float32 past e = 149, as torch.tensor([2.0 ** -e]) does.
    const p = f32(2 ** -(i + j * n));
    out[w++] = p;
    if (signed) out[w++] = -p;
  }
  return out;
}

function sortedUnique(a: Float64Array): Float64Array {
  a.sort();
  let w = 0;
  for (let r = 0; r < a.length; r++) {
    // -0 and 0 are one level; storing +0 keeps the table free of a signed zero.
    const v = a[r] === 0 ? 0 : a[r];
    if (w === 0 || v !== a[w - 1]) a[w++] = v;
  }
  return a.slice(0, w);
}

/**
 * Index of the nearest level for each x: i minimises |levels[i] − x| exactly, and on a tie (x on a
 * midpoint) the lower level wins, as PyTorch's nearest-level search (first strict minimum over the
 * ascending levels; searchsorted(midpoints, x, right=False)). Values beyond the extreme levels
 * saturate to them (the clip to [−alpha, alpha], or [0, alpha] unsigned). Found by binary search on
 * the exact midpoints: O(log L) per element, no allocation beyond `out`.
 *
 * out defaults to a Uint16Array (an Int32Array past 65536 levels). NaN is an error naming its index.
 */
export function apotQuantize(x: Float32Array, levels: ApotLevels, out?: Int32Array | Uint16Array): Int32Array | Uint16Array {
  const count = levels.levels.length;
  const codes = out ?? (count <= 65536 ? new Uint16Array(x.length) : new Int32Array(x.length));
  if (codes.length !== x.length) {
    throw new QuantError('SHAPE_MISMATCH', `output has ${codes.length} elements, expected ${x.length}`);
  }
  if (codes instanceof Uint16Array && count > 65536) {
    throw new QuantError('INVALID_ARGUMENT', `${count} APoT levels need an Int32Array for the indices, got a Uint16Array`);
  }
  for (let j = 0; j < x.length; j++) codes[j] = nearestLevel(levels.midpoints, x[j], j);
  return codes;
}

/** levels[index] for each index, by table lookup; an index outside 0..L−1 is an error naming its position. */
export function apotDequantize(indices: Int32Array | Uint16Array, levels: ApotLevels, out?: Float32Array): Float32Array {
  const table = levels.levels;
  const result = out ?? new Float32Array(indices.length);
  if (result.length !== indices.length) {
    throw new QuantError('SHAPE_MISMATCH', `output has ${result.length} elements, expected ${indices.length}`);
  }
  const count = table.length;
  for (let j = 0; j < indices.length; j++) {
    const q = indices[j];
    if (!(q >= 0 && q < count)) {
      throw new QuantError('INVALID_ARGUMENT', `APoT index ${q} at position ${j} is outside 0..${count - 1}`, { details: { index: j } });
    }
    result[j] = table[q];
  }
  return result;
}

/** apotDequantize(apotQuantize(x)) in one pass, without materialising indices: the nearest level of each x. */
export function apotQuantDequant(x: Float32Array, levels: ApotLevels, out?: Float32Array): Float32Array {
  const result = out ?? new Float32Array(x.length);
  if (result.length !== x.length) {
    throw new QuantError('SHAPE_MISMATCH', `output has ${result.length} elements, expected ${x.length}`);
  }
  const table = levels.levels;
  for (let j = 0; j < x.length; j++) result[j] = table[nearestLevel(levels.midpoints, x[j], j)];
  return result;
}

/**
 * Index of the level nearest v by binary search on the midpoints between levels (midpoints.length =
 * levels − 1); a value exactly on a midpoint takes the lower level. `j` names v's position in errors.
 */
function nearestLevel(mids: Float64Array, v: number, j: number): number {
  if (v !== v) throw new QuantError('NAN_INPUT', `input contains NaN at index ${j}`, { details: { index: j } });
  let lo = 0;
  let hi = mids.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (v <= mids[m]) hi = m;
    else lo = m + 1;
  }
  return lo;
}
