import { QuantError } from '../errors.js';
import type { BlockLayout } from '../layout.js';
import { blockLayout, normalizeAxis, PER_TENSOR, shapeSize, validateShape } from '../layout.js';

/**
 * What every batch an observer folds in must agree on: the rank, and per channel the channel count
 * (PyTorch's per-channel observers silently break when either changes; here it is an error).
 * `check` validates a batch without changing anything; `commit` records it once the observer has
 * accepted it, so a rejected batch leaves the observer as it was.
 */
export class ObservedShape {
  readonly axis: number | undefined;
  private rank = -1;
  private channels = -1;
  private last: readonly number[] = [];

  constructor(axis: number | undefined) {
    if (axis !== undefined && !Number.isInteger(axis)) {
      throw new QuantError('INVALID_ARGUMENT', `observer axis must be an integer, got ${axis}`);
    }
    this.axis = axis;
  }

  get seen(): boolean {
    return this.rank >= 0;
  }

  /** The shape of the last accepted batch (what qparams lays parameters out for). */
  get shape(): readonly number[] {
    return this.last;
  }

  /** Parameters this observer produces: 1 per-tensor, the channel count per channel (0 before any batch). */
  get paramCount(): number {
    return this.axis === undefined ? 1 : Math.max(this.channels, 0);
  }

  /** Validates a batch and returns the layout its per-parameter reductions use. */
  check(x: Float32Array, shape: readonly number[]): BlockLayout {
    validateShape(shape);
    const size = shapeSize(shape);
    if (size !== x.length) {
      throw new QuantError('SHAPE_MISMATCH', `batch has ${x.length} values but shape [${shape.join(', ')}] holds ${size}`);
    }
    if (size === 0) throw new QuantError('EMPTY_INPUT', `cannot observe an empty batch (shape [${shape.join(', ')}])`);
    if (this.rank >= 0 && shape.length !== this.rank) {
      throw new QuantError('SHAPE_MISMATCH', `batch has rank ${shape.length} but earlier batches had rank ${this.rank}`);
    }
    if (this.axis === undefined) return blockLayout(shape, PER_TENSOR);
    const a = normalizeAxis(this.axis, shape.length);
    if (this.channels >= 0 && shape[a] !== this.channels) {
      throw new QuantError(
        'SHAPE_MISMATCH',
        `batch has ${shape[a]} channels along axis ${this.axis} but earlier batches had ${this.channels}`,
      );
    }
    return blockLayout(shape, { kind: 'per-axis', axis: a });
  }

  commit(shape: readonly number[]): void {
    this.rank = shape.length;
    if (this.axis !== undefined) this.channels = shape[normalizeAxis(this.axis, shape.length)];
    this.last = shape.slice();
  }

  /** Throws unless `other` observed batches compatible with this one's (for merge). */
  checkCompatible(other: ObservedShape, what: string): void {
    if (other.axis !== this.axis) {
      throw new QuantError('INVALID_ARGUMENT', `cannot merge ${what} observers of axis ${other.axis} into axis ${this.axis}`);
    }
    if (!this.seen || !other.seen) return;
    if (other.rank !== this.rank) {
      throw new QuantError('SHAPE_MISMATCH', `cannot merge an observer of rank-${other.rank} batches into one of rank ${this.rank}`);
    }
    if (other.channels !== this.channels) {
      throw new QuantError('SHAPE_MISMATCH', `cannot merge an observer of ${other.channels} channels into one of ${this.channels}`);
    }
  }

  /** Adopts another observer's shape record (merging into an empty observer). */
  copyFrom(other: ObservedShape): void {
    this.rank = other.rank;
    this.channels = other.channels;
    this.last = other.last.slice();
  }

  reset(): void {
    this.rank = -1;
    this.channels = -1;
    this.last = [];
  }
}
