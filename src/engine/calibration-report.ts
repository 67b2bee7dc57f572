import type { QParams } from '../core/qparams.js';
import { dequantize, layoutForParams, quantize } from '../core/quantize.js';
import { countClipped } from '../core/count-clipped.js';
import { valueHistogram, type ValueHistogram } from './value-histogram.js';

/** A histogram as plain JSON data: counts.length equal bins between consecutive edges. */
export interface HistogramData<Of extends string> {
  readonly of: Of;
  readonly edges: number[];
  readonly counts: number[];
}

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
  readonly histogram: HistogramData<'error'>;
  /**
   * Histogram of the calibration data itself: DATA_HISTOGRAM_BINS bins over the observed values
   * and the chosen range together, so the clipped tails (values outside the range) show. One
   * histogram over all channels for a per-channel calibration; NaN and ±Infinity are counted apart.
   */
  readonly dataHistogram: HistogramData<'data'> & { readonly nonFinite: number };
}

export const ERROR_HISTOGRAM_BINS = 32;
export const DATA_HISTOGRAM_BINS = 128;

export interface MeasureOptions {
  /** Values the data histogram must span besides the data (the chosen range [min, max]). */
  readonly include?: readonly number[];
}

/** Quantizes each batch with `params` and measures the error against the original values. */
export function measureCalibration(batches: readonly { data: Float32Array; shape: readonly number[] }[], params: QParams, options: MeasureOptions = {}): CalibrationMeasures {
  let count = 0;
  let clipped = 0;
  let finite = 0;
  let sumSq = 0;
  let sumX2 = 0;
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
    }
    errors.push(err.subarray(0, k));
    finite += k;
    count += data.length;
  }
  const data = valueHistogram(
    batches.map((b) => b.data),
    DATA_HISTOGRAM_BINS,
    options.include,
  );
  return {
    count,
    clippedFraction: count ? clipped / count : 0,
    mse: finite ? sumSq / finite : 0,
    sqnrDb: sumSq === 0 ? Infinity : 10 * Math.log10(sumX2 / sumSq),
    histogram: { of: 'error', ...plain(valueHistogram(errors, ERROR_HISTOGRAM_BINS)) },
    dataHistogram: { of: 'data', ...plain(data), nonFinite: data.nonFinite },
  };
}

function plain(h: ValueHistogram): { edges: number[]; counts: number[] } {
  return { edges: Array.from(h.edges), counts: Array.from(h.counts) };
}
