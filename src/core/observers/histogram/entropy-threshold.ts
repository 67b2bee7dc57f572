import { boundsFromPrefix, checkEntropyArguments, prefixSums, SMOOTHING_EPS } from './entropy-divergence-bounds.js';

/**
 * ONNX Runtime HistogramCalibrater's entropy method (TensorRT's KL-divergence calibration), in
 * float64, over a histogram of counts.length bins on the symmetric span [−T, T].
 *
 * For each candidate i = quantizedBins/2 .. bins/2, the slice of bins [z − i, z + i + 1)
 * (z = ⌊bins/2⌋) is the reference p, with everything outside added to its end bins; the candidate q
 * merges the slice into quantizedBins bins (the remainder joins the last) and spreads each back over
 * its source bins as ⌊sum / (non-zero bins of p there)⌋. Both are smoothed (zeros become 1e-4, the
 * non-zeros give that up) and the threshold with the least KL(p ‖ q) = Σ p·ln(p/q) (normalised)
 * wins (the first on a tie), clipped to the observed [min, max]. Edges are
 * edge(k) = f32(−T + k·(2T/bins)). A candidate whose p or q cannot be smoothed (all zeros, or a
 * non-zero entry not above its share ε₁) has KL = ∞; if all do, the whole span wins with ∞.
 *
 * The search costs O(bins · quantizedBins), not O(bins²): entropyDivergenceBounds brackets every
 * candidate's KL from prefix sums, and only the candidates whose bracket reaches the best one are
 * evaluated exactly (as ONNX Runtime does, in O(bins) each), so the threshold and the divergence are
 * the ones the direct search gives, bit for bit.
 *
 * @param counts non-negative finite counts (fractional ones, e.g. from re-binning, are fine)
 * @param quantizedBins an integer ≥ 1 (128 for 8 bits)
 * @example
 * entropyThreshold(new Float64Array([0, 0, 0, 0, 0, 0, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0]), -1, 1, -1, 1, 8)
 * // → { min: -0.5, max: 0.625, divergence: 0 } (slice [4, 9): the narrowest of four exact ties)
 */
export function entropyThreshold(
  counts: Float64Array,
  lo: number,
  hi: number,
  min: number,
  max: number,
  quantizedBins: number,
): { min: number; max: number; divergence: number } {
  checkEntropyArguments(counts, quantizedBins);
  const bins = counts.length;
  const zero = Math.floor(bins / 2);
  const halfQuantized = Math.floor(quantizedBins / 2);
  if (halfQuantized > zero || !(hi > lo)) return { min, max, divergence: 0 };

  const prefix = prefixSums(counts);
  const { lower, upper } = boundsFromPrefix(counts, prefix, quantizedBins);
  const exact = directDivergence(counts, prefix.count, quantizedBins);
  // Start from the least upper bound, then visit every candidate whose bracket reaches the best
  // exact value so far: lower[k] ≤ KL_k, so a skipped k can neither beat nor tie the winner. On a
  // tie the first candidate wins, as in the direct search's strict `<`.
  let best = Infinity;
  let bestK = -1;
  let candidate = -1;
  for (let k = 0; k < upper.length; k++) if (upper[k] < (candidate < 0 ? Infinity : upper[candidate])) candidate = k;
  if (candidate >= 0) {
    best = exact(halfQuantized + candidate);
    bestK = candidate;
  }
  for (let k = 0; k < lower.length; k++) {
    if (k === candidate || !(lower[k] < Infinity && lower[k] <= best)) continue;
    const div = exact(halfQuantized + k);
    if (div < best || (div === best && div < Infinity && k < bestK)) {
      best = div;
      bestK = k;
    }
  }
  return thresholdOf(bins, lo, hi, min, max, bestK < 0 ? -1 : halfQuantized + bestK, best);
}

/**
 * The direct O(bins²) search entropyThreshold equals bit for bit: every candidate evaluated as ONNX
 * Runtime does, the first least KL winning. A reference for tests and benchmarks
 * (bench/entropy.bench.mjs times the two), as referenceKernels is for the kernels.
 */
export function entropyThresholdDirect(
  counts: Float64Array,
  lo: number,
  hi: number,
  min: number,
  max: number,
  quantizedBins: number,
): { min: number; max: number; divergence: number } {
  checkEntropyArguments(counts, quantizedBins);
  const zero = Math.floor(counts.length / 2);
  const halfQuantized = Math.floor(quantizedBins / 2);
  if (halfQuantized > zero || !(hi > lo)) return { min, max, divergence: 0 };
  const exact = directDivergence(counts, prefixSums(counts).count, quantizedBins);
  let best = Infinity;
  let bestI = -1;
  for (let i = halfQuantized; i <= zero; i++) {
    const div = exact(i);
    if (div < best) {
      best = div;
      bestI = i;
    }
  }
  return thresholdOf(counts.length, lo, hi, min, max, bestI, best);
}

/**
 * The span of candidate i (bins [z − i, z + i + 1), z = ⌊bins/2⌋; the whole span when i < 0: no
 * candidate had a finite KL) as edges edge(k) = f32(lo + k·(hi − lo)/bins), clipped to [min, max].
 */
function thresholdOf(bins: number, lo: number, hi: number, min: number, max: number, i: number, divergence: number) {
  const zero = Math.floor(bins / 2);
  const step = (hi - lo) / bins;
  const edge = (k: number) => (k === bins ? hi : Math.fround(lo + k * step));
  let tMin = i < 0 ? edge(0) : edge(zero - i);
  let tMax = i < 0 ? edge(bins) : edge(Math.min(zero + i + 1, bins));
  if (tMin < min) tMin = min;
  if (tMax > max) tMax = max;
  return { min: tMin, max: tMax, divergence };
}

/** The direct O(bins) evaluation of one candidate i, as ONNX Runtime does it. */
function directDivergence(counts: Float64Array, prefix: Float64Array, quantizedBins: number): (i: number) => number {
  const bins = counts.length;
  const zero = Math.floor(bins / 2);
  const width = 2 * zero + 1;
  const p = new Float64Array(width);
  const q = new Float64Array(width);
  const quantized = new Float64Array(quantizedBins);
  return (i) => {
    const start = zero - i;
    const end = Math.min(zero + i + 1, bins);
    const n = end - start;
    for (let j = 0; j < n; j++) p[j] = counts[start + j];
    p[0] += prefix[start];
    p[n - 1] += prefix[bins] - prefix[end];

    const merged = Math.floor(n / quantizedBins);
    for (let j = 0; j < quantizedBins; j++) {
      quantized[j] = Math.trunc(prefix[start + (j + 1) * merged] - prefix[start + j * merged]);
    }
    quantized[quantizedBins - 1] += Math.trunc(prefix[end] - prefix[start + quantizedBins * merged]);
    q.fill(0, 0, n);
    for (let j = 0; j < quantizedBins; j++) {
      let nonzero = 0;
      for (let t = j * merged; t < (j + 1) * merged; t++) if (p[t] !== 0) nonzero++;
      if (nonzero !== 0) q.fill(Math.trunc(quantized[j] / nonzero), j * merged, (j + 1) * merged);
    }
    return klDivergence(p, q, n);
  };
}

/** KL(smooth(p) ‖ smooth(q)) over the first n entries; Infinity when either is all zeros or smoothing fails. */
function klDivergence(p: Float64Array, q: Float64Array, n: number): number {
  const ps = smoothing(p, n);
  const qs = smoothing(q, n);
  if (ps === undefined || qs === undefined) return Infinity;
  let pSum = 0;
  let qSum = 0;
  for (let j = 0; j < n; j++) {
    pSum += smoothed(p[j], ps);
    qSum += smoothed(q[j], qs);
  }
  let kl = 0;
  for (let j = 0; j < n; j++) {
    const pj = smoothed(p[j], ps) / pSum;
    const qj = smoothed(q[j], qs) / qSum;
    kl += pj * Math.log(pj / qj);
  }
  return kl;
}

/** The amount taken off each non-zero entry so zeros can become eps (undefined if impossible). */
function smoothing(v: Float64Array, n: number): number | undefined {
  let zeros = 0;
  let smallest = Infinity;
  for (let j = 0; j < n; j++) {
    if (v[j] === 0) zeros++;
    else if (v[j] < smallest) smallest = v[j];
  }
  const nonzeros = n - zeros;
  if (nonzeros === 0) return undefined;
  const eps1 = (SMOOTHING_EPS * zeros) / nonzeros;
  return smallest - eps1 > 0 ? eps1 : undefined;
}

function smoothed(v: number, eps1: number): number {
  return v === 0 ? SMOOTHING_EPS : v - eps1;
}
