import type { QParams } from '../core/qparams.js';
import { dequantize, layoutForParams, quantize } from '../core/quantize.js';
import { countClipped } from './count-clipped.js';

/** How well a set of parameters fits the calibration data. */
export interface CalibrationMeasures {
  /** Values seen (finite or not). */
  readonly count: number;
  /** Fraction of all values the clamp to [qmin, qmax] changed (±Infinity included). */
  readonly clippedFraction: number;
  /** Mean of (x − dequantize(quantize(x)))² over the finite values. */
  readonly mse: number;
  /** 10·log10(Σx² / Σ(x − x̂)²) over the finite values; Infinity when the error is exactly 0. */
  readonly sqnrDb: number;
  /** Histogram of the quantization error x − x̂ of the finite values (the reference's error_hist). */
  readonly histogram: { readonly of: 'error'; readonly edges: number[]; readonly counts: number[] };
}

export const ERROR_HISTOGRAM_BINS = 32;

/** Quantizes each batch with `params` and measures the error against the original values. */
export function measureCalibration(batches: readonly { data: Float32Array; shape: readonly number[] }[], params: QParams): CalibrationMeasures {
  let count = 0;
  let clipped = 0;
  let finite = 0;
  let sumSq = 0;
  let sumX2 = 0;
  let errMin = Infinity;
  let errMax = -Infinity;
  const errors: Float32Array[] = [];
  for (const { data, shape } of batches) {
    const layout = layoutForParams(data.length, shape, params);
    const { codes } = quantize(data, shape, { params, validate: false });
    clipped += countClipped(data, codes, layout, params);
    const restored = dequantize(codes, shape, params);
    const err = new Float32Array(data.length);
    let k = 0;
    for (let i = 0; i < data.length; i++) {
      const x = data[i];
      if (!Number.isFinite(x)) continue;
      const e = x - restored[i];
      err[k++] = e;
      sumSq += e * e;
      sumX2 += x * x;
      if (e < errMin) errMin = e;
      if (e > errMax) errMax = e;
    }
    errors.push(err.subarray(0, k));
    finite += k;
    count += data.length;
  }
  return {
    count,
    clippedFraction: count ? clipped / count : 0,
    mse: finite ? sumSq / finite : 0,
    sqnrDb: sumSq === 0 ? Infinity : 10 * Math.log10(sumX2 / sumSq),
    histogram: errorHistogram(errors, errMin, errMax),
  };
}

function errorHistogram(errors: Float32Array[], lo: number, hi: number): CalibrationMeasures['histogram'] {
  if (!(lo <= hi)) return { of: 'error', edges: [], counts: [] };
  if (lo === hi) return { of: 'error', edges: [lo, hi], counts: [errors.reduce((n, e) => n + e.length, 0)] };
  const bins = ERROR_HISTOGRAM_BINS;
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width));
  const counts = new Array<number>(bins).fill(0);
  for (const err of errors) {
    for (let i = 0; i < err.length; i++) {
      // The last bin is closed, as numpy.histogram's.
      const b = Math.min(Math.floor((err[i] - lo) / width), bins - 1);
      counts[b]++;
    }
  }
  return { of: 'error', edges, counts };
}
