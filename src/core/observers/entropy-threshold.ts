const SMOOTHING_EPS = 1e-4;

/**
 * ONNX Runtime HistogramCalibrater's entropy method (TensorRT's KL-divergence calibration), in
 * float64, over a histogram of counts.length bins on the symmetric span [−T, T].
 *
 * For each candidate i = quantizedBins/2 .. bins/2, the slice of bins [z − i, z + i + 1)
 * (z = ⌊bins/2⌋) is the reference p, with everything outside added to its end bins; the candidate q
 * merges the slice into quantizedBins bins (the remainder joins the last) and spreads each back over
 * its source bins as ⌊sum / (non-zero bins of p there)⌋. Both are smoothed (zeros become 1e-4, the
 * non-zeros give that up) and the threshold with the least KL(p ‖ q) = Σ p·ln(p/q) (normalised)
 * wins, clipped to the observed [min, max]. Edges are edge(k) = f32(−T + k·(2T/bins)).
 */
export function entropyThreshold(
  counts: Float64Array,
  lo: number,
  hi: number,
  min: number,
  max: number,
  quantizedBins: number,
): { min: number; max: number; divergence: number } {
  const bins = counts.length;
  const zero = Math.floor(bins / 2);
  const halfQuantized = Math.floor(quantizedBins / 2);
  const step = (hi - lo) / bins;
  const edge = (k: number) => (k === bins ? hi : Math.fround(lo + k * step));
  if (halfQuantized > zero || !(hi > lo)) return { min, max, divergence: 0 };

  const prefix = new Float64Array(bins + 1);
  for (let b = 0; b < bins; b++) prefix[b + 1] = prefix[b] + counts[b];
  const width = 2 * zero + 1;
  const p = new Float64Array(width);
  const q = new Float64Array(width);
  const quantized = new Float64Array(quantizedBins);

  let best = Infinity;
  let bestStart = 0;
  let bestEnd = bins;
  for (let i = halfQuantized; i <= zero; i++) {
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
    const div = klDivergence(p, q, n);
    if (div < best) {
      best = div;
      bestStart = start;
      bestEnd = end;
    }
  }
  let tMin = edge(bestStart);
  let tMax = edge(bestEnd);
  if (tMin < min) tMin = min;
  if (tMax > max) tMax = max;
  return { min: tMin, max: tMax, divergence: best };
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
