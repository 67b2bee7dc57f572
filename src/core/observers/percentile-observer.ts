import { QuantError } from '../errors.js';
import type { ObserverOptions } from './observer.js';
import { checkBins } from './channel-histograms.js';
import { HistogramBackedObserver, type HistogramRow } from './histogram-backed-observer.js';
import { histogramQuantile } from './histogram/histogram-quantile.js';

export interface PercentileObserverOptions extends ObserverOptions {
  /** Lower percentile in [0, 100]; default 0.1 (the reference Quantizer's min_percentile). */
  readonly minPercentile?: number;
  /** Upper percentile in [0, 100], above minPercentile; default 99.9. */
  readonly maxPercentile?: number;
  /** Histogram bins; default 2048 (ONNX Runtime's percentile calibrator). */
  readonly bins?: number;
}

/**
 * Clips at the [minPercentile, maxPercentile] percentiles of everything seen, read from a
 * histogram (never a sort): one pass of the min/max kernel for the span, one pass of the binning
 * kernel, then histogramQuantile, accurate to one bin width of np.percentile, (max − min) / bins.
 * Batches and merged observers combine by re-binning (ChannelHistograms), which adds at most one
 * more bin width of error per growth of the span.
 */
export class PercentileObserver extends HistogramBackedObserver {
  readonly name: string = 'percentile';
  readonly minPercentile: number;
  readonly maxPercentile: number;

  constructor(options: PercentileObserverOptions = {}) {
    const lo = options.minPercentile ?? 0.1;
    const hi = options.maxPercentile ?? 99.9;
    for (const [what, v] of [['minPercentile', lo], ['maxPercentile', hi]] as const) {
      if (!(typeof v === 'number' && v >= 0 && v <= 100)) {
        throw new QuantError('INVALID_ARGUMENT', `${what} must be a number in [0, 100], got ${String(v)}`);
      }
    }
    if (!(lo < hi)) {
      throw new QuantError('INVALID_ARGUMENT', `minPercentile must be below maxPercentile, got ${lo} >= ${hi}`);
    }
    super(options.axis, checkBins(options.bins ?? 2048, 1), false);
    this.minPercentile = lo;
    this.maxPercentile = hi;
  }

  protected rangeOf(h: HistogramRow): { min: number; max: number } {
    return {
      min: histogramQuantile(h.counts, h.lo, h.hi, h.min, h.max, this.minPercentile),
      max: histogramQuantile(h.counts, h.lo, h.hi, h.min, h.max, this.maxPercentile),
    };
  }

  protected optionsKey(): string {
    return `axis=${this.axis}, percentiles=[${this.minPercentile}, ${this.maxPercentile}], bins=${this.hist.bins}`;
  }
}
