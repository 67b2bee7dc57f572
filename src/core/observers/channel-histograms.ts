import { QuantError } from '../errors.js';
import type { BlockLayout } from '../layout.js';
import { forEachChannelRun } from './channel-runs.js';
import { getHistogramKernel } from './histogram/get-histogram-kernel.js';
import { rebinHistogram } from './histogram/rebin-histogram.js';

/** One parameter's histogram: counts.length equal bins over [lo, hi]; min and max are exact. */
export interface HistogramSnapshot {
  readonly lo: number;
  readonly hi: number;
  readonly min: number;
  readonly max: number;
  readonly counts: Float64Array;
}

/**
 * One histogram per parameter (channel), the state behind the percentile, histogram (MSE) and
 * entropy observers. Histogram p has `bins` equal bins over [lo[p], hi[p]] and also tracks the exact
 * observed min[p] and max[p].
 *
 * 'range' histograms span [min, max] of everything seen (PyTorch's HistogramObserver);
 * 'symmetric' ones span [−T, T] with T = max |x| (ONNX Runtime's entropy collector). When a batch
 * reaches past the current span, the span grows to cover it, the old counts are re-binned into the
 * new span (rebinHistogram) and the batch is binned directly into it, as PyTorch does; so is a
 * merged observer's histogram. Unlike PyTorch, which discards its histogram when the old span is a
 * single value (or narrower than 1e-6), that mass is kept, in the new bin holding the value; and
 * ±Infinity is an error (checked before any state changes) rather than silently dropped.
 * Counts are float64 (re-binning makes them fractional; exact integers up to 2^53).
 */
export class ChannelHistograms {
  readonly bins: number;
  readonly symmetric: boolean;
  lo = new Float64Array(0);
  hi = new Float64Array(0);
  min = new Float32Array(0);
  max = new Float32Array(0);
  counts = new Float64Array(0);
  private spare = new Float64Array(0);
  private readonly scratch = { buffer: new Float32Array(0) };

  constructor(bins: number, symmetric: boolean) {
    this.bins = bins;
    this.symmetric = symmetric;
  }

  get params(): number {
    return this.lo.length;
  }

  /** The counts of parameter p (a view). */
  row(p: number): Float64Array {
    return this.counts.subarray(p * this.bins, (p + 1) * this.bins);
  }

  /** A copy of each parameter's histogram: its span, observed extremes and counts. */
  snapshot(): HistogramSnapshot[] {
    return Array.from({ length: this.params }, (_, p) => ({
      lo: this.lo[p],
      hi: this.hi[p],
      min: this.min[p],
      max: this.max[p],
      counts: this.row(p).slice(),
    }));
  }

  /** Folds a validated batch in; min[p] and max[p] are its per-parameter extremes. */
  add(x: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array): void {
    if (this.params === 0) this.allocate(min.length);
    for (let p = 0; p < min.length; p++) this.cover(p, min[p], max[p]);
    const kernel = getHistogramKernel();
    forEachChannelRun(x, layout, (p, run) => kernel.histogram(run, this.lo[p], this.hi[p], this.row(p)), this.scratch);
  }

  /** Folds another instance's histograms in (same bins, kind and parameter count). */
  merge(other: ChannelHistograms): void {
    if (this.params === 0) this.allocate(other.params);
    for (let p = 0; p < other.params; p++) {
      this.cover(p, other.min[p], other.max[p]);
      rebinHistogram(other.row(p), other.lo[p], other.hi[p], this.row(p), this.lo[p], this.hi[p]);
    }
  }

  clear(): void {
    this.allocate(0);
  }

  private allocate(params: number): void {
    this.lo = new Float64Array(params).fill(Infinity);
    this.hi = new Float64Array(params).fill(-Infinity);
    this.min = new Float32Array(params).fill(Infinity);
    this.max = new Float32Array(params).fill(-Infinity);
    this.counts = new Float64Array(params * this.bins);
  }

  /** Grows histogram p's span to contain [min, max], re-binning what it holds. */
  private cover(p: number, min: number, max: number): void {
    if (min < this.min[p]) this.min[p] = min;
    if (max > this.max[p]) this.max[p] = max;
    let lo = Math.min(this.lo[p], min);
    let hi = Math.max(this.hi[p], max);
    if (this.symmetric) {
      hi = Math.max(-lo, hi);
      lo = -hi;
    }
    if (lo === this.lo[p] && hi === this.hi[p]) return;
    const row = this.row(p);
    if (this.lo[p] !== Infinity) {
      if (this.spare.length !== this.bins) this.spare = new Float64Array(this.bins);
      this.spare.set(row);
      row.fill(0);
      rebinHistogram(this.spare, this.lo[p], this.hi[p], row, lo, hi);
    }
    this.lo[p] = lo;
    this.hi[p] = hi;
  }
}

/** Validates a bin count (an integer from `least` to 2^20). */
export function checkBins(bins: number, least: number): number {
  if (!Number.isInteger(bins) || bins < least || bins > 1 << 20) {
    throw new QuantError('INVALID_ARGUMENT', `bins must be an integer from ${least} to ${1 << 20}, got ${String(bins)}`);
  }
  return bins;
}
