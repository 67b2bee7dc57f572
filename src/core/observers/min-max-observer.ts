import type { BlockLayout } from '../layout.js';
import type { ObserverOptions } from './observer.js';
import { BaseObserver } from './base-observer.js';

/**
 * PyTorch's MinMaxObserver / PerChannelMinMaxObserver: the running minimum and maximum over every
 * batch (per channel along `axis` when given). min = min(min, batchMin), max = max(max, batchMax);
 * merging takes the same element-wise min and max, so merge(a, b) equals one observer over a + b.
 */
export class MinMaxObserver extends BaseObserver {
  readonly name: string = 'minmax';
  private min: Float32Array = new Float32Array(0);
  private max: Float32Array = new Float32Array(0);

  constructor(options: ObserverOptions = {}) {
    super(options.axis);
  }

  protected fold(_x: Float32Array, _layout: BlockLayout, min: Float32Array, max: Float32Array): void {
    if (this.count === 0) {
      this.min = min;
      this.max = max;
      return;
    }
    this.widen(min, max);
  }

  private widen(min: Float32Array, max: Float32Array): void {
    for (let p = 0; p < min.length; p++) {
      if (min[p] < this.min[p]) this.min[p] = min[p];
      if (max[p] > this.max[p]) this.max[p] = max[p];
    }
  }

  protected absorb(other: this, empty: boolean): void {
    if (empty) {
      this.min = other.min.slice();
      this.max = other.max.slice();
      return;
    }
    this.widen(other.min, other.max);
  }

  protected chooseRange(): { min: Float32Array; max: Float32Array } {
    return { min: this.min.slice(), max: this.max.slice() };
  }

  protected clear(): void {
    this.min = new Float32Array(0);
    this.max = new Float32Array(0);
  }

  protected optionsKey(): string {
    return `axis=${this.axis}`;
  }
}
