// The bracket behind entropyThreshold's fast search: every candidate threshold's KL divergence
// bounded from prefix sums in O(quantizedBins), so only the few that can win are evaluated directly.
import { QuantError } from '../../errors.js';

/** ONNX Runtime's smoothing: zero entries become this, the non-zero ones give it up. */
export const SMOOTHING_EPS = 1e-4;
const LN_SMOOTHING_EPS = Math.log(SMOOTHING_EPS);
const UNIT_ROUNDOFF = 2 ** -53;

/**
 * For each candidate i = ⌊quantizedBins/2⌋ .. ⌊bins/2⌋ (index i − ⌊quantizedBins/2⌋), a bracket
 * lower ≤ KL_i ≤ upper around the KL entropyThreshold's direct evaluation gives (both ∞ exactly
 * when that is ∞), in O(quantizedBins) per candidate.
 *
 * With S = Σ p = Σ counts and T = Σ q (smoothing keeps both sums), and p̃, q̃ the smoothed entries,
 * KL = (A − B)/S + ln(T/S), where
 * - B = Σ p̃·ln q̃ needs one ln per merged group: q̃ is constant over a group, and the group's Σ p̃ is
 *   Σ p − ε₁·(non-zeros) + 1e-4·(zeros) from prefix sums;
 * - A = Σ p̃·ln p̃ = 1e-4·ln(1e-4)·(zeros) + Σ (c − ε₁)·ln(c − ε₁) over the non-zero c, which is not a
 *   prefix sum because ε₁ = 1e-4·zeros/non-zeros changes with the candidate; its Taylor series in ε₁,
 *   (c − ε₁)·ln(c − ε₁) = c·ln c − ε₁·(ln c + 1) + Σ_{k≥2} ε₁^k / (k(k−1)·c^(k−1)),
 *   is taken to k = 4 with prefix sums of c·ln c, ln c, 1/c, 1/c², 1/c³ (the two end bins, which
 *   hold the outliers, are done directly). The tail is positive and at most
 *   nz·ε₁·r⁴ / (20·(1 − r)) with r = ε₁ / (smallest non-zero c) < 1, which widens upper.
 * Rounding: both this sum and the direct one are sums of at most bins + 8 terms, so each is within
 * (bins + 8)·u·(Σ of term magnitudes) of the exact value (recursive summation, u = 2⁻⁵³; the direct
 * one's magnitudes are bounded by 2·H(p) + KL ≤ |A|/S + |B|/S + |ln S| + |ln T|); the bracket allows
 * 8·(bins + 8)·u·(1 + those magnitudes, with the prefix sums' global totals), more than both together.
 */
export function entropyDivergenceBounds(
  counts: Float64Array,
  quantizedBins: number,
): { lower: Float64Array; upper: Float64Array } {
  checkEntropyArguments(counts, quantizedBins);
  return boundsFromPrefix(counts, prefixSums(counts), quantizedBins);
}

export function checkEntropyArguments(counts: Float64Array, quantizedBins: number): void {
  if (!(Number.isInteger(quantizedBins) && quantizedBins >= 1)) {
    throw new QuantError('INVALID_ARGUMENT', `quantizedBins must be an integer ≥ 1, got ${String(quantizedBins)}`);
  }
  let total = 0;
  for (let b = 0; b < counts.length; b++) {
    const c = counts[b];
    if (!(c >= 0 && c < Infinity)) {
      throw new QuantError('INVALID_ARGUMENT', `histogram counts must be finite and ≥ 0, got ${String(c)} at bin ${b}`);
    }
    total += c;
  }
  if (total === Infinity) {
    throw new QuantError('INVALID_ARGUMENT', 'histogram counts must have a finite sum, got one that overflows');
  }
}

/** Prefix sums over the bins (entry b covers bins [0, b)); the ln and 1/c ones over non-zero bins only. */
export interface PrefixSums {
  readonly count: Float64Array;
  readonly nonzero: Float64Array;
  readonly cLogC: Float64Array;
  readonly logC: Float64Array;
  readonly inv1: Float64Array;
  readonly inv2: Float64Array;
  readonly inv3: Float64Array;
  /** Σ |c·ln c| and Σ |ln c| over all bins, the scale of the prefix sums' rounding. */
  readonly absCLogC: number;
  readonly absLogC: number;
}

export function prefixSums(counts: Float64Array): PrefixSums {
  const bins = counts.length;
  const count = new Float64Array(bins + 1);
  const nonzero = new Float64Array(bins + 1);
  const cLogC = new Float64Array(bins + 1);
  const logC = new Float64Array(bins + 1);
  const inv1 = new Float64Array(bins + 1);
  const inv2 = new Float64Array(bins + 1);
  const inv3 = new Float64Array(bins + 1);
  let absCLogC = 0;
  let absLogC = 0;
  for (let b = 0; b < bins; b++) {
    const c = counts[b];
    count[b + 1] = count[b] + c;
    const nz = c !== 0;
    const l = nz ? Math.log(c) : 0;
    const r = nz ? 1 / c : 0;
    nonzero[b + 1] = nonzero[b] + (nz ? 1 : 0);
    cLogC[b + 1] = cLogC[b] + c * l;
    logC[b + 1] = logC[b] + l;
    inv1[b + 1] = inv1[b] + r;
    inv2[b + 1] = inv2[b] + r * r;
    inv3[b + 1] = inv3[b] + r * r * r;
    absCLogC += Math.abs(c * l);
    absLogC += Math.abs(l);
  }
  return { count, nonzero, cLogC, logC, inv1, inv2, inv3, absCLogC, absLogC };
}

export function boundsFromPrefix(
  counts: Float64Array,
  prefix: PrefixSums,
  quantizedBins: number,
): { lower: Float64Array; upper: Float64Array } {
  const bins = counts.length;
  const zero = Math.floor(bins / 2);
  const halfQuantized = Math.floor(quantizedBins / 2);
  const candidates = Math.max(0, zero - halfQuantized + 1);
  const lower = new Float64Array(candidates).fill(Infinity);
  const upper = new Float64Array(candidates).fill(Infinity);
  const { count, nonzero } = prefix;
  const S = count[bins];
  // Per merged group (index quantizedBins: the bins past the last group): Σ p, non-zeros of p.
  const groupSum = new Float64Array(quantizedBins + 1);
  const groupNonzero = new Float64Array(quantizedBins + 1);
  const quantized = new Float64Array(quantizedBins);
  const spread = new Float64Array(quantizedBins);
  // The smallest non-zero count inside the slice bar its ends, over the nested interiors
  // [zero − i + 1, min(zero + i, bins − 1)), which only grow with i.
  let coveredLo = zero;
  let coveredHi = zero;
  let interiorMin = Infinity;

  for (let i = halfQuantized; i <= zero; i++) {
    const start = zero - i;
    const end = Math.min(zero + i + 1, bins);
    const n = end - start;
    if (n <= 0) continue;
    const left = count[start];
    const right = count[bins] - count[end];
    // The end bins exactly as the direct search forms them (same additions, same order).
    let first: number;
    let last: number;
    let interiorLo: number;
    let interiorHi: number;
    if (n === 1) {
      first = counts[start] + left + right;
      last = first;
      interiorLo = interiorHi = end;
    } else {
      first = counts[start] + left;
      last = counts[end - 1] + right;
      interiorLo = start + 1;
      interiorHi = end - 1;
      while (coveredLo > interiorLo) {
        const c = counts[--coveredLo];
        if (c !== 0 && c < interiorMin) interiorMin = c;
      }
      while (coveredHi < interiorHi) {
        const c = counts[coveredHi++];
        if (c !== 0 && c < interiorMin) interiorMin = c;
      }
    }
    const ends = n === 1 ? 1 : 2;
    const interiorNonzero = nonzero[interiorHi] - nonzero[interiorLo];
    const nonzerosP = interiorNonzero + (first !== 0 ? 1 : 0) + (ends === 2 && last !== 0 ? 1 : 0);
    const zerosP = n - nonzerosP;
    let smallestP = interiorNonzero > 0 ? interiorMin : Infinity;
    if (first !== 0 && first < smallestP) smallestP = first;
    if (ends === 2 && last !== 0 && last < smallestP) smallestP = last;
    if (nonzerosP === 0) continue;
    const epsP = (SMOOTHING_EPS * zerosP) / nonzerosP;
    if (!(smallestP - epsP > 0)) continue;

    const merged = Math.floor(n / quantizedBins);
    if (merged === 0) continue; // q is all zeros
    const covered = quantizedBins * merged;
    for (let g = 0; g < quantizedBins; g++) {
      const a = start + g * merged;
      const b = a + merged;
      quantized[g] = Math.trunc(count[b] - count[a]);
      groupSum[g] = count[b] - count[a];
      groupNonzero[g] = nonzero[b] - nonzero[a];
    }
    quantized[quantizedBins - 1] += Math.trunc(count[end] - count[start + covered]);
    groupSum[quantizedBins] = count[end] - count[start + covered];
    groupNonzero[quantizedBins] = nonzero[end] - nonzero[start + covered];
    // p differs from the counts at its ends by the outliers.
    groupSum[0] += ends === 1 ? left + right : left;
    groupNonzero[0] += (first !== 0 ? 1 : 0) - (counts[start] !== 0 ? 1 : 0);
    if (ends === 2) {
      const g = n - 1 < covered ? Math.floor((n - 1) / merged) : quantizedBins;
      groupSum[g] += right;
      groupNonzero[g] += (last !== 0 ? 1 : 0) - (counts[end - 1] !== 0 ? 1 : 0);
    }

    let nonzerosQ = 0;
    let smallestQ = Infinity;
    let T = 0;
    for (let g = 0; g < quantizedBins; g++) {
      const v = groupNonzero[g] !== 0 ? Math.trunc(quantized[g] / groupNonzero[g]) : 0;
      spread[g] = v;
      if (v !== 0) {
        nonzerosQ += merged;
        if (v < smallestQ) smallestQ = v;
        T += merged * v;
      }
    }
    if (nonzerosQ === 0) continue;
    const epsQ = (SMOOTHING_EPS * (n - nonzerosQ)) / nonzerosQ;
    if (!(smallestQ - epsQ > 0)) continue;

    // B = Σ p̃·ln q̃, one term per group; the rounding scale of each group sum is S (prefix sums).
    let B = 0;
    let scaleB = 0;
    for (let g = 0; g <= quantizedBins; g++) {
      const size = g < quantizedBins ? merged : n - covered;
      const pSmoothed = groupSum[g] - epsP * groupNonzero[g] + SMOOTHING_EPS * (size - groupNonzero[g]);
      const lnQ = g < quantizedBins && spread[g] !== 0 ? Math.log(spread[g] - epsQ) : LN_SMOOTHING_EPS;
      B += pSmoothed * lnQ;
      scaleB += Math.abs(lnQ) * (S + Math.abs(pSmoothed));
    }

    // A = Σ p̃·ln p̃: zeros, the interior by its Taylor series in ε₁, the ends directly.
    const e = epsP;
    const e2 = e * e;
    const iLo = interiorLo;
    const iHi = interiorHi;
    const taylor =
      prefix.cLogC[iHi] - prefix.cLogC[iLo] -
      e * (prefix.logC[iHi] - prefix.logC[iLo] + interiorNonzero) +
      (e2 / 2) * (prefix.inv1[iHi] - prefix.inv1[iLo]) +
      ((e2 * e) / 6) * (prefix.inv2[iHi] - prefix.inv2[iLo]) +
      ((e2 * e2) / 12) * (prefix.inv3[iHi] - prefix.inv3[iLo]);
    const endFirst = first !== 0 ? (first - e) * Math.log(first - e) : 0;
    const endLast = ends === 2 && last !== 0 ? (last - e) * Math.log(last - e) : 0;
    const zerosTerm = zerosP * SMOOTHING_EPS * LN_SMOOTHING_EPS;
    const A = zerosTerm + taylor + endFirst + endLast;
    const scaleA =
      prefix.absCLogC +
      e * (prefix.absLogC + bins) +
      (e2 / 2) * prefix.inv1[bins] +
      ((e2 * e) / 6) * prefix.inv2[bins] +
      ((e2 * e2) / 12) * prefix.inv3[bins] +
      Math.abs(endFirst) + Math.abs(endLast) + Math.abs(zerosTerm);

    const kl = (A - B) / S + Math.log(T / S);
    const r = interiorNonzero > 0 ? e / interiorMin : 0;
    const tail = (interiorNonzero * e * r ** 4) / (20 * (1 - r)) / S;
    const magnitude = (scaleA + scaleB) / S + Math.abs(Math.log(S)) + Math.abs(Math.log(T)) + 1;
    const slack = 8 * (bins + 8) * UNIT_ROUNDOFF * magnitude;
    const k = i - halfQuantized;
    if (Number.isFinite(kl) && Number.isFinite(slack)) {
      lower[k] = kl - slack;
      upper[k] = kl + tail + slack;
    } else {
      lower[k] = -Infinity; // cannot bracket: the exact pass decides
      upper[k] = Infinity;
    }
  }
  return { lower, upper };
}
