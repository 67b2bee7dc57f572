import { QuantError } from '../errors.js';
import type { ObserverOptions } from './observer.js';
import { RunningRangeObserver } from './running-range-observer.js';

const f32 = Math.fround;

export interface MovingAverageObserverOptions extends ObserverOptions {
  /** c in min ← min + c·(batchMin − min); in (0, 1]. Default 0.01, as PyTorch. */
  readonly averagingConstant?: number;
}

/**
 * PyTorch's MovingAverageMinMaxObserver (and its per-channel form): the first batch sets the range,
 * each later one moves it by an exponential moving average, in float32 as PyTorch computes it:
 *
 *   min ← min + c · (batchMin − min),   max ← max + c · (batchMax − max)
 *
 * Example: c = 0.5, batches with ranges [0, 4] then [-2, 2] give [-1, 3].
 * merge folds the other observer's running range in as one more batch (the average has no exact
 * merge: it depends on batch order), or adopts it when this observer has seen nothing.
 */
export class MovingAverageObserver extends RunningRangeObserver {
  readonly name: string = 'moving-average';
  readonly averagingConstant: number;

  constructor(options: MovingAverageObserverOptions = {}) {
    super(options.axis);
    const c = options.averagingConstant ?? 0.01;
    if (!(typeof c === 'number' && c > 0 && c <= 1)) {
      throw new QuantError('INVALID_ARGUMENT', `averagingConstant must be a number in (0, 1], got ${String(c)}`);
    }
    this.averagingConstant = c;
  }

  protected combine(min: Float32Array, max: Float32Array): void {
    const c = f32(this.averagingConstant);
    for (let p = 0; p < min.length; p++) {
      this.min[p] = f32(this.min[p] + f32(c * f32(min[p] - this.min[p])));
      this.max[p] = f32(this.max[p] + f32(c * f32(max[p] - this.max[p])));
    }
  }

  protected optionsKey(): string {
    return `axis=${this.axis}, averagingConstant=${this.averagingConstant}`;
  }
}
