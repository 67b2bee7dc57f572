import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Granularity } from './layout.js';
import { blockLayout, normalizeAxis, paramIndex, PER_TENSOR, shapeSize } from './layout.js';
import { quantError } from '../../test/helpers/quant-error.js';

/** The parameter of each element straight from its N-d coordinates (the definition, no strides). */
function naiveParams(shape: number[], g: Granularity): { paramShape: number[]; index: number[] } {
  const rank = shape.length;
  if (g.kind === 'per-tensor') return { paramShape: [], index: new Array<number>(shapeSize(shape)).fill(0) };
  const axis = g.axis < 0 ? g.axis + rank : g.axis;
  const block = g.kind === 'per-block' ? g.blockSize : 1;
  const paramShape = g.kind === 'per-axis' ? [shape[axis]] : shape.map((d, k) => (k === axis ? Math.ceil(d / block) : d));
  const index: number[] = [];
  const n = shapeSize(shape);
  for (let flat = 0; flat < n; flat++) {
    const coord: number[] = new Array<number>(rank);
    let rest = flat;
    for (let k = rank - 1; k >= 0; k--) {
      coord[k] = rest % shape[k];
      rest = Math.floor(rest / shape[k]);
    }
    if (g.kind === 'per-axis') {
      index.push(coord[axis]);
      continue;
    }
    const pc = coord.map((c, k) => (k === axis ? Math.floor(c / block) : c));
    let p = 0;
    for (let k = 0; k < rank; k++) p = p * paramShape[k] + pc[k];
    index.push(p);
  }
  return { paramShape, index };
}

const shapeArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 });
const caseArb = shapeArb.chain((shape) => {
  const rank = shape.length;
  const axis = fc.integer({ min: -rank, max: rank - 1 });
  const g: fc.Arbitrary<Granularity> = fc.oneof(
    fc.constant(PER_TENSOR),
    axis.map((a) => ({ kind: 'per-axis', axis: a }) as const),
    fc.tuple(axis, fc.integer({ min: 1, max: 8 })).map(([a, b]) => ({ kind: 'per-block', axis: a, blockSize: b }) as const),
  );
  return fc.tuple(fc.constant(shape), g);
});

describe('blockLayout and paramIndex', () => {
  it('match a naive N-d index computation for random shapes and granularities', () => {
    fc.assert(
      fc.property(caseArb, ([shape, g]) => {
        const layout = blockLayout(shape, g);
        const want = naiveParams(shape, g);
        expect(layout.size).toBe(shapeSize(shape));
        expect(layout.paramShape).toEqual(want.paramShape);
        expect(layout.paramCount).toBe(shapeSize(want.paramShape));
        const got = Array.from({ length: layout.size }, (_, i) => paramIndex(layout, i));
        expect(got).toEqual(want.index);
      }),
      { numRuns: 400 },
    );
  });

  it('treats a negative axis as counted from the end', () => {
    fc.assert(
      fc.property(caseArb, ([shape, g]) => {
        if (g.kind === 'per-tensor') return;
        const pos = g.axis < 0 ? g.axis + shape.length : g.axis;
        expect(blockLayout(shape, { ...g, axis: pos - shape.length })).toEqual(blockLayout(shape, { ...g, axis: pos }));
      }),
      { numRuns: 200 },
    );
  });

  it('uses ONNX parameter shapes: [] per-tensor, [d] per-axis, ceil(d / B) per-block with a short last block', () => {
    expect(blockLayout([4, 10], PER_TENSOR).paramShape).toEqual([]);
    expect(blockLayout([4, 10], { kind: 'per-axis', axis: -1 }).paramShape).toEqual([10]);
    const l = blockLayout([4, 10], { kind: 'per-block', axis: 1, blockSize: 4 });
    expect(l.paramShape).toEqual([4, 3]);
    // Row 1, columns 8 and 9 form the short third block.
    expect(paramIndex(l, 18)).toBe(5);
    expect(paramIndex(l, 19)).toBe(5);
    expect(paramIndex(l, 17)).toBe(4);
  });

  it('handles empty tensors and scalars', () => {
    expect(blockLayout([], PER_TENSOR).size).toBe(1);
    expect(blockLayout([0, 3], PER_TENSOR).size).toBe(0);
    expect(blockLayout([0, 3], { kind: 'per-axis', axis: 1 }).paramCount).toBe(3);
  });
});

describe('layout errors', () => {
  it('an axis out of range is AXIS_OUT_OF_RANGE stating the valid range', () => {
    for (const axis of [2, -3, 7]) {
      const e = quantError(() => blockLayout([3, 4], { kind: 'per-axis', axis }));
      expect(e.code).toBe('AXIS_OUT_OF_RANGE');
      expect(e.message).toContain(`axis ${axis}`);
      expect(e.message).toContain('-2..1');
    }
    expect(quantError(() => blockLayout([3, 4], { kind: 'per-block', axis: 2, blockSize: 2 })).code).toBe('AXIS_OUT_OF_RANGE');
    expect(quantError(() => blockLayout([3, 4], { kind: 'per-axis', axis: 0.5 })).code).toBe('AXIS_OUT_OF_RANGE');
    expect(quantError(() => blockLayout([], { kind: 'per-axis', axis: 0 })).code).toBe('AXIS_OUT_OF_RANGE');
    expect(quantError(() => normalizeAxis(-1, 0)).code).toBe('AXIS_OUT_OF_RANGE');
    expect(normalizeAxis(-1, 3)).toBe(2);
  });

  it('a block size that is not a positive integer is INVALID_BLOCK_SIZE', () => {
    for (const blockSize of [0, -1, 1.5, NaN, Infinity]) {
      const e = quantError(() => blockLayout([3, 4], { kind: 'per-block', axis: 1, blockSize }));
      expect(e.code).toBe('INVALID_BLOCK_SIZE');
      expect(e.message).toContain(String(blockSize));
    }
  });

  it('a negative or fractional dimension is SHAPE_MISMATCH', () => {
    for (const shape of [[2, -1], [1.5], [NaN]]) {
      expect(quantError(() => blockLayout(shape, PER_TENSOR)).code).toBe('SHAPE_MISMATCH');
    }
  });
});
