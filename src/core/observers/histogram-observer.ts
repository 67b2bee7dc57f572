import type { QuantDtype } from '../dtypes.js';
import type { BlockLayout } from '../layout.js';
import type { ObserverOptions } from './observer.js';
import { BaseObserver } from './base-observer.js';
import { ChannelHistograms, checkBins, type HistogramSnapshot } from './channel-histograms.js';
import { mseRangeSearch } from './mse-range-search.js';

export interface HistogramObserverOptions extends ObserverOptions {
  /** Histogram bins; default 2048, as PyTorch. */
  readonly bins?: number;
}

/**
 * PyTorch's HistogramObserver: a running histogram over [min, max] of everything seen, re-binned as
 * the span grows; the range is the one mseRangeSearch finds for the scheme's bit width
 * (2^bits levels), so it depends on the dtype asked for. Per channel along `axis` when given (one
 * histogram and one search per channel), which PyTorch does not offer.
 */
export class HistogramObserver extends BaseObserver {
  readonly name: string = 'histogram';
  private readonly hist: ChannelHistograms;

  constructor(options: HistogramObserverOptions = {}) {
    super(options.axis);
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

  protected chooseRange(dtype: QuantDtype): { min: Float32Array; max: Float32Array } {
    const h = this.hist;
    const min = new Float32Array(h.params);
    const max = new Float32Array(h.params);
    for (let p = 0; p < h.params; p++) {
      const r = mseRangeSearch(h.row(p), h.lo[p], h.hi[p], 2 ** dtype.bits);
      min[p] = r.min;
      max[p] = r.max;
    }
    return { min, max };
  }

  protected clear(): void {
    this.hist.clear();
  }

  protected optionsKey(): string {
    return `axis=${this.axis}, bins=${this.hist.bins}`;
  }
}
