import type { QuantDtype } from '../dtypes.js';
import { getQuantDtype } from '../dtypes.js';
import { QuantError } from '../errors.js';
import type { BlockLayout } from '../layout.js';
import { axisGranularity } from '../layout.js';
import type { QParams } from '../qparams.js';
import { getKernels, wasmKernels } from '../kernels/index.js';
import { stageWithMinMax } from '../kernels/wasm-scratch.js';
import { computeRange, qparamsFromRange } from '../quantize.js';
import { checkFiniteRange } from '../validate.js';
import type { Observer, ObserverScheme } from './observer.js';
import { ObservedShape } from './observed-shape.js';

/**
 * The shared skeleton of every observer: validation before any state changes (so a rejected batch
 * leaves the observer as it was), the element count, and qparams through the one qparamsFromRange.
 * A subclass supplies only its statistics: `fold` (one validated batch, with its per-parameter
 * min and max already computed by the min/max kernel), `absorb` (another observer's statistics),
 * `chooseRange` and `clear`.
 */
export abstract class BaseObserver implements Observer {
  abstract readonly name: string;
  protected readonly shapes: ObservedShape;
  private elements = 0;

  constructor(axis: number | undefined) {
    this.shapes = new ObservedShape(axis);
  }

  get axis(): number | undefined {
    return this.shapes.axis;
  }

  get count(): number {
    return this.elements;
  }

  update(x: Float32Array, shape: readonly number[]): void {
    const layout = this.shapes.check(x, shape);
    if (this.passesOverInput() && x.length > 0 && getKernels() === wasmKernels) {
      // Two passes over x (range, then statistics): copy x once into WebAssembly memory, taking the
      // range of each chunk while it is in cache, and run the second pass there in place, instead
      // of staging x through linear memory once per pass. x itself when it already lives there.
      const min = new Float32Array(layout.paramCount).fill(Infinity);
      const max = new Float32Array(layout.paramCount).fill(-Infinity);
      const staged = stageWithMinMax(x, layout, min, max, false);
      checkFiniteRange(x, min, max, false);
      this.fold(staged, layout, min, max);
    } else {
      // NaN propagates through the min/max kernel, so this one pass both validates and gives the range.
      const { min, max } = computeRange(x, layout);
      this.fold(x, layout, min, max);
    }
    this.shapes.commit(shape);
    this.elements += x.length;
  }

  merge(other: Observer): void {
    if (!(other instanceof BaseObserver) || other.name !== this.name) {
      throw new QuantError('INVALID_ARGUMENT', `cannot merge a '${other.name}' observer into a '${this.name}' observer`);
    }
    if (other === this) throw new QuantError('INVALID_ARGUMENT', 'cannot merge an observer into itself');
    const mine = this.optionsKey();
    const theirs = other.optionsKey();
    if (mine !== theirs) {
      throw new QuantError('INVALID_ARGUMENT', `cannot merge '${this.name}' observers with different options: ${theirs} into ${mine}`);
    }
    this.shapes.checkCompatible(other.shapes, this.name);
    if (other.elements === 0) return;
    this.absorb(other as this, this.elements === 0);
    if (this.elements === 0) this.shapes.copyFrom(other.shapes);
    this.elements += other.elements;
  }

  range(scheme: ObserverScheme): { min: Float32Array; max: Float32Array } {
    const dtype = getQuantDtype(scheme.dtype);
    if (!this.shapes.seen) {
      throw new QuantError('NOT_CALIBRATED', `the '${this.name}' observer has seen no data: call update before range or qparams`);
    }
    return this.chooseRange(dtype, scheme);
  }

  qparams(scheme: ObserverScheme): QParams {
    const { min, max } = this.range(scheme);
    const shape = this.shapes.shape;
    const axis = this.shapes.axis;
    const granularity = axisGranularity(axis, shape.length);
    return qparamsFromRange(min, max, shape, {
      dtype: scheme.dtype,
      symmetric: scheme.symmetric ?? false,
      narrow: scheme.narrow ?? false,
      granularity,
    });
  }

  reset(): void {
    this.shapes.reset();
    this.elements = 0;
    this.clear();
  }

  /**
   * Whether fold reads the whole batch again after the range pass (the histogram observers bin
   * it): update then hands fold a copy of x in WebAssembly memory, valid only during the call, so
   * the kernels run on it in place. fold must not keep x.
   */
  protected passesOverInput(): boolean {
    return false;
  }

  /** Folds one validated, finite, non-empty batch in; min[p] and max[p] are its per-parameter extremes. */
  protected abstract fold(x: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array): void;
  /** Folds another observer's statistics in (same kind, options and channel count; it has seen data). */
  protected abstract absorb(other: this, empty: boolean): void;
  protected abstract chooseRange(dtype: QuantDtype, scheme: ObserverScheme): { min: Float32Array; max: Float32Array };
  protected abstract clear(): void;
  /** The options that must match for two observers to merge, as a readable string. */
  protected abstract optionsKey(): string;
}
