import type { QuantDtype } from '../dtypes.js';
import type { ObserverOptions } from './observer.js';
import { checkBins } from './channel-histograms.js';
import { HistogramBackedObserver, type HistogramRow } from './histogram-backed-observer.js';
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
export class HistogramObserver extends HistogramBackedObserver {
  readonly name: string = 'mse';

  constructor(options: HistogramObserverOptions = {}) {
    super(options.axis, checkBins(options.bins ?? 2048, 1), false);
  }

  protected rangeOf(h: HistogramRow, dtype: QuantDtype): { min: number; max: number } {
    return mseRangeSearch(h.counts, h.lo, h.hi, 2 ** dtype.bits);
  }

  protected optionsKey(): string {
    return `axis=${this.axis}, bins=${this.hist.bins}`;
  }
}
