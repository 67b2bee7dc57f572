import { QuantError } from '../errors.js';
import type { QuantDtype } from '../dtypes.js';
import type { ObserverOptions } from './observer.js';
import { checkBins } from './channel-histograms.js';
import { entropyThreshold } from './histogram/entropy-threshold.js';
import { HistogramBackedObserver, type HistogramRow } from './histogram-backed-observer.js';

export interface EntropyObserverOptions extends ObserverOptions {
  /** Histogram bins over [−max|x|, max|x|]; default 2048 (TensorRT). */
  readonly bins?: number;
  /** Quantized bins the KL search compares against; default 2^(bits−1) of the scheme (128 for 8-bit). */
  readonly quantizedBins?: number;
}

/**
 * KL-divergence (entropy) calibration as TensorRT and ONNX Runtime's HistogramCalibrater do: a
 * symmetric histogram of everything seen, then entropyThreshold picks the clipping range whose
 * quantized distribution diverges least from the observed one.
 */
export class EntropyObserver extends HistogramBackedObserver {
  readonly name: string = 'entropy';
  readonly quantizedBins: number | undefined;

  constructor(options: EntropyObserverOptions = {}) {
    super(options.axis, checkBins(options.bins ?? 2048, 2), true);
    const qb = options.quantizedBins;
    if (qb !== undefined && !(Number.isInteger(qb) && qb >= 2 && qb <= this.hist.bins)) {
      throw new QuantError('INVALID_ARGUMENT', `quantizedBins must be an integer from 2 to bins (${this.hist.bins}), got ${String(qb)}`);
    }
    this.quantizedBins = qb;
  }

  protected rangeOf(h: HistogramRow, dtype: QuantDtype): { min: number; max: number } {
    const t = entropyThreshold(h.counts, h.lo, h.hi, h.min, h.max, this.quantizedBins ?? 2 ** (dtype.bits - 1));
    return { min: t.min, max: t.max };
  }

  protected optionsKey(): string {
    return `axis=${this.axis}, bins=${this.hist.bins}, quantizedBins=${this.quantizedBins}`;
  }
}
