import type { ObserverOptions } from './observer.js';
import { RunningRangeObserver } from './running-range-observer.js';

/**
 * PyTorch's MinMaxObserver / PerChannelMinMaxObserver: the running minimum and maximum over every
 * batch (per channel along `axis` when given). min = min(min, batchMin), max = max(max, batchMax);
 * merging takes the same element-wise min and max, so merge(a, b) equals one observer over a + b.
 */
export class MinMaxObserver extends RunningRangeObserver {
  readonly name: string = 'minmax';

  constructor(options: ObserverOptions = {}) {
    super(options.axis);
  }

  protected combine(min: Float32Array, max: Float32Array): void {
    for (let p = 0; p < min.length; p++) {
      if (min[p] < this.min[p]) this.min[p] = min[p];
      if (max[p] > this.max[p]) this.max[p] = max[p];
    }
  }

  protected optionsKey(): string {
    return `axis=${this.axis}`;
  }
}
