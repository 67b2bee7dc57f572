import { QuantError } from '../errors.js';
import type { BlockLayout } from '../layout.js';
import type { ObserverOptions } from './observer.js';
import { BaseObserver } from './base-observer.js';

export interface FixedObserverOptions extends ObserverOptions {
  /** The range: one number for every parameter, or one per channel. */
  readonly min: number | readonly number[];
  readonly max: number | readonly number[];
}

/**
 * A given range, as PyTorch's FixedQParamsObserver (for outputs of known range such as sigmoid's
 * [0, 1]): update only validates and counts, range always returns the configured [min, max].
 * A per-channel list must match the channel count of the batches.
 */
export class FixedObserver extends BaseObserver {
  readonly name: string = 'fixed';
  private readonly fixedMin: readonly number[];
  private readonly fixedMax: readonly number[];

  constructor(options: FixedObserverOptions) {
    super(options?.axis);
    const min = toList(options?.min, 'min');
    const max = toList(options?.max, 'max');
    if (min.length !== max.length) {
      throw new QuantError('INVALID_ARGUMENT', `fixed observer needs as many minima as maxima, got ${min.length} and ${max.length}`);
    }
    if (options.axis === undefined && min.length !== 1) {
      throw new QuantError('INVALID_ARGUMENT', `a per-tensor fixed observer takes one min and one max, got ${min.length}`);
    }
    for (let i = 0; i < min.length; i++) {
      if (!(min[i] < max[i])) {
        throw new QuantError('INVALID_ARGUMENT', `fixed range needs min < max, got [${min[i]}, ${max[i]}] at ${i}`);
      }
    }
    this.fixedMin = min;
    this.fixedMax = max;
  }

  protected fold(_x: Float32Array, _layout: BlockLayout, min: Float32Array): void {
    if (this.fixedMin.length !== 1 && this.fixedMin.length !== min.length) {
      throw new QuantError('SHAPE_MISMATCH', `fixed observer has ${this.fixedMin.length} ranges but the batch has ${min.length} channels`);
    }
  }

  protected absorb(): void {}

  protected chooseRange(): { min: Float32Array; max: Float32Array } {
    const n = this.shapes.paramCount;
    const min = new Float32Array(n);
    const max = new Float32Array(n);
    for (let p = 0; p < n; p++) {
      min[p] = this.fixedMin.length === 1 ? this.fixedMin[0] : this.fixedMin[p];
      max[p] = this.fixedMax.length === 1 ? this.fixedMax[0] : this.fixedMax[p];
    }
    return { min, max };
  }

  protected clear(): void {}

  protected optionsKey(): string {
    return `axis=${this.axis}, min=[${this.fixedMin.join(', ')}], max=[${this.fixedMax.join(', ')}]`;
  }
}

function toList(v: number | readonly number[] | undefined, what: string): readonly number[] {
  const list = typeof v === 'number' ? [v] : Array.isArray(v) ? (v as readonly number[]) : undefined;
  if (!list || list.length === 0 || !list.every((n) => typeof n === 'number' && Number.isFinite(n))) {
    throw new QuantError('INVALID_ARGUMENT', `fixed observer ${what} must be a finite number or a non-empty list of them, got ${JSON.stringify(v)}`);
  }
  return list.slice();
}
