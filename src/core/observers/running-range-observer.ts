import type { BlockLayout } from '../layout.js';
import { BaseObserver } from './base-observer.js';

/**
 * The observers whose whole state is one running [min, max] per parameter (min/max, moving
 * average): the first batch or merged observer sets it, later ones are combined into it by
 * `combine`, the one thing such observers differ in.
 */
export abstract class RunningRangeObserver extends BaseObserver {
  protected min: Float32Array = new Float32Array(0);
  protected max: Float32Array = new Float32Array(0);

  /** Folds a batch's (or another observer's) per-parameter range into the running one. */
  protected abstract combine(min: Float32Array, max: Float32Array): void;

  protected fold(_x: Float32Array, _layout: BlockLayout, min: Float32Array, max: Float32Array): void {
    if (this.count === 0) {
      this.min = min;
      this.max = max;
      return;
    }
    this.combine(min, max);
  }

  protected absorb(other: this, empty: boolean): void {
    if (empty) {
      this.min = other.min.slice();
      this.max = other.max.slice();
      return;
    }
    this.combine(other.min, other.max);
  }

  protected chooseRange(): { min: Float32Array; max: Float32Array } {
    return { min: this.min.slice(), max: this.max.slice() };
  }

  protected clear(): void {
    this.min = new Float32Array(0);
    this.max = new Float32Array(0);
  }
}
