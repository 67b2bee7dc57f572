/**
 * PyTorch HistogramObserver's search for the clipping range that minimises the L2 quantization
 * error (after caffe2's NormMinimization), over a histogram of counts.length bins on [lo, hi] for
 * a grid of dstBins = 2^bits levels, in float64.
 *
 * From the full span, it repeatedly moves whichever end gains more when the quantile bounds
 * advance by 1e-5 of the total count (alpha from the left, beta from the right), and stops at the
 * first move whose error exceeds the best so far. Returns the chosen bins and
 * [lo + w·start, lo + w·(end + 1)], w = (hi − lo)/bins.
 */
export function mseRangeSearch(
  counts: Float64Array,
  lo: number,
  hi: number,
  dstBins: number,
): { startBin: number; endBin: number; min: number; max: number } {
  const bins = counts.length;
  const width = (hi - lo) / bins;
  const cumulative = new Float64Array(bins);
  let total = 0;
  for (let b = 0; b < bins; b++) cumulative[b] = total += counts[b];

  const stepSize = 1e-5;
  let alpha = 0;
  let beta = 1;
  let startBin = 0;
  let endBin = bins - 1;
  let bestNorm = Infinity;
  while (alpha < beta) {
    const nextAlpha = alpha + stepSize;
    const nextBeta = beta - stepSize;
    let l = startBin;
    let r = endBin;
    while (l < endBin && cumulative[l] < nextAlpha * total) l++;
    while (r > startBin && cumulative[r] > nextBeta * total) r--;
    let nextStart = startBin;
    let nextEnd = endBin;
    if (l - startBin > endBin - r) {
      nextStart = l;
      alpha = nextAlpha;
    } else {
      nextEnd = r;
      beta = nextBeta;
    }
    if (nextStart === startBin && nextEnd === endBin) continue;
    const norm = quantizationError(counts, lo, hi, nextStart, nextEnd, dstBins);
    if (norm > bestNorm) break;
    bestNorm = norm;
    startBin = nextStart;
    endBin = nextEnd;
  }
  return { startBin, endBin, min: lo + width * startBin, max: lo + width * (endBin + 1) };
}

/**
 * The L2 error of quantizing the histogram's values (each bin's count spread evenly over the bin)
 * to dstBins levels spanning bins startBin..endBin, as PyTorch's _compute_quantization_error:
 * for each source bin, the integral of (x − nearest level centre)² times its density, split into
 * the partial destination bin at each end and the whole ones between:
 *
 *   norm(a, b) = density · (b³ − a³) / 3
 */
export function quantizationError(
  counts: Float64Array,
  lo: number,
  hi: number,
  startBin: number,
  endBin: number,
  dstBins: number,
): number {
  const bins = counts.length;
  const width = (hi - lo) / bins;
  const dstWidth = (width * (endBin - startBin + 1)) / dstBins;
  if (dstWidth === 0) return 0;
  const half = dstWidth / 2;
  const whole = (half * half * half - -half * -half * -half) / 3;
  const last = dstBins - 1;
  let sum = 0;
  for (let i = 0; i < bins; i++) {
    const density = counts[i] / width;
    if (density === 0) continue;
    const begin = (i - startBin) * width;
    const end = begin + width;
    const dstOfBegin = clamp(Math.floor(begin / dstWidth), 0, last);
    const dstOfEnd = clamp(Math.floor(end / dstWidth), 0, last);
    const deltaBegin = begin - (dstOfBegin + 0.5) * dstWidth;
    const deltaEnd = end - (dstOfEnd * dstWidth + half);
    sum += density * ((half * half * half - deltaBegin * deltaBegin * deltaBegin) / 3);
    sum += (dstOfEnd - dstOfBegin - 1) * density * whole;
    sum += density * ((deltaEnd * deltaEnd * deltaEnd - -half * -half * -half) / 3);
  }
  return sum;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
