import { describe, expect, it } from 'vitest';
import { referenceHistogramKernel } from '../core/observers/histogram-kernel.js';
import { computeHistogram } from './histogram.js';

describe('computeHistogram', () => {
  it('bins the finite values over [min, max] as the core kernel does, the maximum in the last bin', () => {
    const x = new Float32Array([0, 0.5, 1, 1.5, 2, 2, 4]);
    const h = computeHistogram(x, 4);
    expect([h.lo, h.hi]).toEqual([0, 4]);
    expect(Array.from(h.counts)).toEqual([2, 2, 2, 1]);
    expect(Array.from(h.edges)).toEqual([0, 1, 2, 3, 4]);
    const ref = new Float64Array(4);
    referenceHistogramKernel.histogram(x, 0, 4, ref);
    expect(h.counts).toEqual(ref);
  });

  it('widens the span to include a range past the data, and leaves NaN and ±Infinity out (counted apart)', () => {
    const h = computeHistogram(new Float32Array([1, NaN, 2, Infinity, -Infinity, 3]), 8, [-1, 5]);
    expect([h.lo, h.hi]).toEqual([-1, 5]);
    expect(h.nonFinite).toBe(3);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('widens a float64 bound to the float32 that still contains it', () => {
    const h = computeHistogram(new Float32Array([0]), 2, [0.1]);
    expect(h.hi).toBeGreaterThanOrEqual(0.1);
    expect(h.hi).toBe(Math.fround(h.hi));
  });

  it('handles all-equal and all-non-finite data, and refuses a bad bin count', () => {
    expect(Array.from(computeHistogram(new Float32Array([2, 2]), 3).counts)).toEqual([2, 0, 0]);
    expect(computeHistogram(new Float32Array([NaN]), 3).nonFinite).toBe(1);
    expect(() => computeHistogram(new Float32Array([1]), 0)).toThrow(/bins must be a positive integer up to \d+, got 0/);
  });
});
