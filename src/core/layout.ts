import { QuantError } from './errors.js';

/** How parameters are shared across a tensor. */
export type Granularity =
  | { readonly kind: 'per-tensor' }
  | { readonly kind: 'per-axis'; readonly axis: number }
  | { readonly kind: 'per-block'; readonly axis: number; readonly blockSize: number };

export const PER_TENSOR: Granularity = Object.freeze({ kind: 'per-tensor' });

/**
 * The one description every kernel iterates over: per-tensor, per-axis and per-block all become
 * this, so one reduction and one quantize loop serve the three.
 *
 * The tensor is viewed as rows of `inner` contiguous elements; row r is (o, a) with
 * o = floor(r / axisLen), a = r mod axisLen. Element g = r * inner + i uses parameter
 *
 *   p = o * paramOuterStride + floor(a / blockSize) * (varyInner ? inner : 1) + (varyInner ? i : 0)
 *
 * so within a row the parameter is either constant (a splat) or runs along with i (a vector load).
 */
export interface BlockLayout {
  readonly size: number;
  readonly axisLen: number;
  readonly inner: number;
  readonly blockSize: number;
  readonly paramOuterStride: number;
  readonly varyInner: boolean;
  readonly paramCount: number;
  /** Shape of the scale and zero-point tensors (ONNX's: [] per-tensor, [d] per-axis, shape with axis -> ceil(d/B) per-block). */
  readonly paramShape: readonly number[];
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function validateShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new QuantError('SHAPE_MISMATCH', `shape [${shape.join(', ')}] has an invalid dimension ${d}`);
    }
  }
}

/** Resolves a possibly negative axis (counted from the end) against a rank. */
/**
 * The granularity of quantizing along `axis` (negative counts from the end) of a tensor of rank
 * `rank`: per-tensor when axis is undefined. Example: axisGranularity(-1, 2) → per-axis along 1.
 */
export function axisGranularity(axis: number | undefined, rank: number): Granularity {
  return axis === undefined ? PER_TENSOR : { kind: 'per-axis', axis: normalizeAxis(axis, rank) };
}

export function normalizeAxis(axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new QuantError(
      'AXIS_OUT_OF_RANGE',
      `axis ${axis} is out of range for a tensor of rank ${rank} (expected ${-rank}..${rank - 1})`,
    );
  }
  return axis < 0 ? axis + rank : axis;
}

export function blockLayout(shape: readonly number[], granularity: Granularity): BlockLayout {
  validateShape(shape);
  const size = shapeSize(shape);
  if (granularity.kind === 'per-tensor') {
    return { size, axisLen: 1, inner: Math.max(size, 1), blockSize: 1, paramOuterStride: 0, varyInner: false, paramCount: 1, paramShape: [] };
  }
  const rank = shape.length;
  if (rank === 0) {
    throw new QuantError('AXIS_OUT_OF_RANGE', `axis ${granularity.axis} is out of range for a scalar (rank 0)`);
  }
  const axis = normalizeAxis(granularity.axis, rank);
  const axisLen = shape[axis];
  const inner = shapeSize(shape.slice(axis + 1));
  if (granularity.kind === 'per-axis') {
    const paramShape = [axisLen];
    if (inner === 1) {
      // Channels are the contiguous dimension: rows become whole channel vectors, parameters vary along them.
      return { size, axisLen: 1, inner: Math.max(axisLen, 1), blockSize: 1, paramOuterStride: 0, varyInner: true, paramCount: axisLen, paramShape };
    }
    return { size, axisLen: Math.max(axisLen, 1), inner: Math.max(inner, 1), blockSize: 1, paramOuterStride: 0, varyInner: false, paramCount: axisLen, paramShape };
  }
  const { blockSize } = granularity;
  if (!Number.isSafeInteger(blockSize) || blockSize <= 0) {
    throw new QuantError('INVALID_BLOCK_SIZE', `block size must be a positive integer, got ${blockSize}`);
  }
  const blocks = Math.ceil(axisLen / blockSize);
  const outer = shapeSize(shape.slice(0, axis));
  const paramShape = shape.map((d, k) => (k === axis ? blocks : d));
  const varyInner = inner > 1;
  return {
    size,
    axisLen: Math.max(axisLen, 1),
    inner: Math.max(inner, 1),
    blockSize,
    paramOuterStride: varyInner ? blocks * inner : blocks,
    varyInner,
    paramCount: outer * blocks * inner,
    paramShape,
  };
}

/** The parameter index of element g (the readable definition the kernels are tested against). */
export function paramIndex(layout: BlockLayout, g: number): number {
  const r = Math.floor(g / layout.inner);
  const i = g - r * layout.inner;
  const o = Math.floor(r / layout.axisLen);
  const a = r - o * layout.axisLen;
  const b = Math.floor(a / layout.blockSize);
  return layout.varyInner
    ? o * layout.paramOuterStride + b * layout.inner + i
    : o * layout.paramOuterStride + b;
}
