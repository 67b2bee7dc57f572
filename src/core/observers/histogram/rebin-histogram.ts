/**
 * Re-bins a histogram of counts.length equal bins over [lo, hi] into out (out.length equal bins
 * over [newLo, newHi], which must contain [lo, hi]), adding to out. Each old bin's count is spread
 * uniformly over its width and split among the new bins in proportion to overlap:
 *
 *   out[k] += counts[i] · |[a_i, a_i+1) ∩ [e_k, e_k+1)| / w
 *
 * This is the limit of PyTorch HistogramObserver's merge (repeat each bin upsample_rate times and
 * drop the midpoints into the new bins) as upsample_rate grows, in O(bins) rather than
 * O(bins · upsample_rate); the total count is preserved exactly (each old bin's remainder goes to
 * the last new bin it touches). A degenerate old histogram (hi = lo) puts all its mass in the new
 * bin holding lo.
 */
export function rebinHistogram(
  counts: Float64Array,
  lo: number,
  hi: number,
  out: Float64Array,
  newLo: number,
  newHi: number,
): void {
  const bins = counts.length;
  const newBins = out.length;
  const last = newBins - 1;
  const newWidth = (newHi - newLo) / newBins;
  const binOf = (v: number): number => {
    if (!(newWidth > 0)) return 0;
    const k = Math.floor((v - newLo) / newWidth);
    return k < 0 ? 0 : k > last ? last : k;
  };
  if (!(hi > lo)) {
    let total = 0;
    for (let i = 0; i < bins; i++) total += counts[i];
    out[binOf(lo)] += total;
    return;
  }
  const width = (hi - lo) / bins;
  for (let i = 0; i < bins; i++) {
    const c = counts[i];
    if (c === 0) continue;
    const a = lo + i * width;
    const b = i === bins - 1 ? hi : a + width;
    const kA = binOf(a);
    const kB = binOf(b);
    if (kA === kB) {
      out[kA] += c;
      continue;
    }
    let given = 0;
    for (let k = kA; k < kB; k++) {
      const edge = newLo + (k + 1) * newWidth;
      const from = k === kA ? a : newLo + k * newWidth;
      const part = (c * Math.max(0, edge - from)) / width;
      out[k] += part;
      given += part;
    }
    out[kB] += c - given;
  }
}
