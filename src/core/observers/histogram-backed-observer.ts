import type { QuantDtype } from '../dtypes.js';
import type { BlockLayout } from '../layout.js';
import { BaseObserver } from './base-observer.js';
import { ChannelHistograms, type HistogramSnapshot } from './channel-histograms.js';

/** One parameter's histogram, as the range searches read it. */
export interface HistogramRow {
  readonly counts: Float64Array;
  /** The span the bins cover. */
  readonly lo: number;
  readonly hi: number;
  /** The smallest and largest values seen. */
  readonly min: number;
  readonly max: number;
}

/**
 * The observers that keep a running histogram per parameter (percentile, histogram/MSE, entropy):
 * batches are binned (x is copied into WebAssembly memory once and binned in place), observers merge
 * by re-binning, and each kind only says how one histogram becomes a range (`rangeOf`).
 */
export abstract class HistogramBackedObserver extends BaseObserver {
  protected readonly hist: ChannelHistograms;

  protected constructor(axis: number | undefined, bins: number, symmetric: boolean) {
    super(axis);
    this.hist = new ChannelHistograms(bins, symmetric);
  }

  /** The histogram behind the range, one per parameter (a copy), e.g. for a calibration report. */
  histograms(): HistogramSnapshot[] {
    return this.hist.snapshot();
  }

  /** The clipping range one parameter's histogram gives for this dtype. */
  protected abstract rangeOf(row: HistogramRow, dtype: QuantDtype): { min: number; max: number };

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
      const r = this.rangeOf({ counts: h.row(p), lo: h.lo[p], hi: h.hi[p], min: h.min[p], max: h.max[p] }, dtype);
      min[p] = r.min;
      max[p] = r.max;
    }
    return { min, max };
  }

  protected clear(): void {
    this.hist.clear();
  }
}
