import { QuantError } from '../errors.js';
import type { BlockLayout } from '../layout.js';
import type { ObserverOptions } from './observer.js';
import { BaseObserver } from './base-observer.js';
import { ChannelHistograms, checkBins, type HistogramSnapshot } from './channel-histograms.js';
import { histogramQuantile } from './histogram-quantile.js';

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
export class PercentileObserver extends BaseObserver {
  readonly name: string = 'percentile';
  readonly minPercentile: number;
  readonly maxPercentile: number;
  private readonly hist: ChannelHistograms;

  constructor(options: PercentileObserverOptions = {}) {
    super(options.axis);
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
    this.minPercentile = lo;
    this.maxPercentile = hi;
    this.hist = new ChannelHistograms(checkBins(options.bins ?? 2048, 1), false);
  }

  /** The histogram behind the range, one per parameter (a copy), e.g. for a calibration report. */
  histograms(): HistogramSnapshot[] {
    return this.hist.snapshot();
  }

  protected override passesOverInput(): boolean {
    return true;
  }

  protected fold(x: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array): void {
    this.hist.add(x, layout, min, max);
  }

  protected absorb(other: this): void {
    this.hist.merge(other.hist);
  }

  protected chooseRange(): { min: Float32Array; max: Float32Array } {
    const h = this.hist;
    const min = new Float32Array(h.params);
    const max = new Float32Array(h.params);
    for (let p = 0; p < h.params; p++) {
      min[p] = histogramQuantile(h.row(p), h.lo[p], h.hi[p], h.min[p], h.max[p], this.minPercentile);
      max[p] = histogramQuantile(h.row(p), h.lo[p], h.hi[p], h.min[p], h.max[p], this.maxPercentile);
    }
    return { min, max };
  }

  protected clear(): void {
    this.hist.clear();
  }

  protected optionsKey(): string {
    return `axis=${this.axis}, percentiles=[${this.minPercentile}, ${this.maxPercentile}], bins=${this.hist.bins}`;
  }
}

