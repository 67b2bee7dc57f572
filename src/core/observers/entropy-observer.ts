import { QuantError } from '../errors.js';
import type { QuantDtype } from '../dtypes.js';
import type { BlockLayout } from '../layout.js';
import type { ObserverOptions } from './observer.js';
import { BaseObserver } from './base-observer.js';
import { ChannelHistograms, checkBins, type HistogramSnapshot } from './channel-histograms.js';
import { entropyThreshold } from './entropy-threshold.js';

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
export class EntropyObserver extends BaseObserver {
  readonly name: string = 'entropy';
  readonly quantizedBins: number | undefined;
  private readonly hist: ChannelHistograms;

  constructor(options: EntropyObserverOptions = {}) {
    super(options.axis);
    this.hist = new ChannelHistograms(checkBins(options.bins ?? 2048, 2), true);
    const qb = options.quantizedBins;
    if (qb !== undefined && !(Number.isInteger(qb) && qb >= 2 && qb <= this.hist.bins)) {
      throw new QuantError('INVALID_ARGUMENT', `quantizedBins must be an integer from 2 to bins (${this.hist.bins}), got ${String(qb)}`);
    }
    this.quantizedBins = qb;
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
    const quantizedBins = this.quantizedBins ?? 2 ** (dtype.bits - 1);
    const min = new Float32Array(h.params);
    const max = new Float32Array(h.params);
    for (let p = 0; p < h.params; p++) {
      const t = entropyThreshold(h.row(p), h.lo[p], h.hi[p], h.min[p], h.max[p], quantizedBins);
      min[p] = t.min;
      max[p] = t.max;
    }
    return { min, max };
  }

  protected clear(): void {
    this.hist.clear();
  }

  protected optionsKey(): string {
    return `axis=${this.axis}, bins=${this.hist.bins}, quantizedBins=${this.quantizedBins}`;
  }
}
