import { QuantError } from '../errors.js';
import type { BlockLayout } from '../layout.js';
import type { ObserverOptions } from './observer.js';
import { BaseObserver } from './base-observer.js';
import { forEachChannelRun } from './channel-runs.js';

export interface OutlierObserverOptions extends ObserverOptions {
  /** k in mean ± k·std; positive. Default 3 (the reference Quantizer's outlier_threshold). */
  readonly outlierThreshold?: number;
}

/**
 * Clips outliers at mean ± k·std (population std), intersected with the observed [min, max] so the
 * range never reaches past the data:
 *
 *   range = [max(min, mean − k·std), min(max, mean + k·std)]
 *
 * The running count, mean and M2 = Σ(x − mean)² are float64 and combine by Chan et al.'s parallel
 * formula (δ = meanB − meanA, n = nA + nB):
 *
 *   mean = meanA + δ·nB/n,   M2 = M2A + M2B + δ²·nA·nB/n
 *
 * within a batch (two passes per contiguous run), across batches and in merge, so merge(a, b)
 * equals one observer over a + b up to float64 rounding.
 */
export class OutlierObserver extends BaseObserver {
  readonly name: string = 'outlier';
  readonly outlierThreshold: number;
  private n = new Float64Array(0);
  private mean = new Float64Array(0);
  private m2 = new Float64Array(0);
  private min = new Float32Array(0);
  private max = new Float32Array(0);
  private readonly scratch = { buffer: new Float32Array(0) };

  constructor(options: OutlierObserverOptions = {}) {
    super(options.axis);
    const k = options.outlierThreshold ?? 3;
    if (!(typeof k === 'number' && k > 0 && Number.isFinite(k))) {
      throw new QuantError('INVALID_ARGUMENT', `outlierThreshold must be a positive finite number, got ${String(k)}`);
    }
    this.outlierThreshold = k;
  }

  /** Running per-parameter statistics: count, mean and population standard deviation. */
  stats(): { count: Float64Array; mean: Float64Array; std: Float64Array } {
    const std = new Float64Array(this.n.length);
    for (let p = 0; p < std.length; p++) std[p] = Math.sqrt(this.m2[p] / this.n[p]);
    return { count: this.n.slice(), mean: this.mean.slice(), std };
  }

  protected fold(x: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array): void {
    const params = min.length;
    if (this.count === 0) this.allocate(params);
    forEachChannelRun(
      x,
      layout,
      (c, run) => {
        let sum = 0;
        for (let i = 0; i < run.length; i++) sum += run[i];
        const mean = sum / run.length;
        let m2 = 0;
        for (let i = 0; i < run.length; i++) {
          const d = run[i] - mean;
          m2 += d * d;
        }
        this.combine(c, run.length, mean, m2);
      },
      this.scratch,
    );
    for (let p = 0; p < params; p++) {
      if (min[p] < this.min[p]) this.min[p] = min[p];
      if (max[p] > this.max[p]) this.max[p] = max[p];
    }
  }

  private allocate(params: number): void {
    this.n = new Float64Array(params);
    this.mean = new Float64Array(params);
    this.m2 = new Float64Array(params);
    this.min = new Float32Array(params).fill(Infinity);
    this.max = new Float32Array(params).fill(-Infinity);
  }

  private combine(p: number, nB: number, meanB: number, m2B: number): void {
    const nA = this.n[p];
    if (nA === 0) {
      // Adopt exactly: meanB · nB / nB need not round back to meanB.
      this.n[p] = nB;
      this.mean[p] = meanB;
      this.m2[p] = m2B;
      return;
    }
    const n = nA + nB;
    const delta = meanB - this.mean[p];
    this.mean[p] += (delta * nB) / n;
    this.m2[p] += m2B + (delta * delta * nA * nB) / n;
    this.n[p] = n;
  }

  protected absorb(other: this, empty: boolean): void {
    if (empty) this.allocate(other.n.length);
    for (let p = 0; p < other.n.length; p++) {
      this.combine(p, other.n[p], other.mean[p], other.m2[p]);
      if (other.min[p] < this.min[p]) this.min[p] = other.min[p];
      if (other.max[p] > this.max[p]) this.max[p] = other.max[p];
    }
  }

  protected chooseRange(): { min: Float32Array; max: Float32Array } {
    const params = this.n.length;
    const min = new Float32Array(params);
    const max = new Float32Array(params);
    const k = this.outlierThreshold;
    for (let p = 0; p < params; p++) {
      const std = Math.sqrt(this.m2[p] / this.n[p]);
      min[p] = Math.max(this.min[p], this.mean[p] - k * std);
      max[p] = Math.min(this.max[p], this.mean[p] + k * std);
    }
    return { min, max };
  }

  protected clear(): void {
    this.allocate(0);
  }

  protected optionsKey(): string {
    return `axis=${this.axis}, outlierThreshold=${this.outlierThreshold}`;
  }
}
