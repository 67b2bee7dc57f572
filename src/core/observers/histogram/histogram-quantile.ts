/**
 * The q-th percentile (0..100) of the values a histogram counts, with numpy's default (linear)
 * definition: h = (n − 1)·q/100, result = v[⌊h⌋] + (h − ⌊h⌋)·(v[⌊h⌋+1] − v[⌊h⌋]), where v[k] is the
 * k-th smallest value (0-based). Order statistic k is placed inside the bin that holds it, assuming
 * the bin's values are spread evenly: bin b with C[b−1] <= k < C[b] (C the cumulative counts) gives
 *
 *   v[k] ≈ lo + (b + (k − C[b−1] + 0.5) / counts[b]) · w,   clamped to [min, max]
 *
 * so the result is within one bin width w of the exact percentile. q = 0 and q = 100 return the
 * exact min and max.
 */
export function histogramQuantile(
  counts: Float64Array,
  lo: number,
  hi: number,
  min: number,
  max: number,
  q: number,
): number {
  if (q <= 0) return min;
  if (q >= 100) return max;
  let total = 0;
  for (let b = 0; b < counts.length; b++) total += counts[b];
  const h = ((total - 1) * q) / 100;
  const k = Math.floor(h);
  const frac = h - k;
  const v0 = orderStatistic(counts, lo, hi, min, max, k);
  if (frac === 0) return v0;
  const v1 = orderStatistic(counts, lo, hi, min, max, k + 1);
  return v0 + frac * (v1 - v0);
}

function orderStatistic(counts: Float64Array, lo: number, hi: number, min: number, max: number, k: number): number {
  const bins = counts.length;
  const width = (hi - lo) / bins;
  let before = 0;
  for (let b = 0; b < bins; b++) {
    const c = counts[b];
    if (c > 0 && before + c > k) {
      const v = lo + (b + Math.min(1, (k - before + 0.5) / c)) * width;
      return v < min ? min : v > max ? max : v;
    }
    before += c;
  }
  return max;
}
