import { describe, expect, it } from 'vitest';
import { referenceHistogramKernel } from '../core/observers/histogram/histogram-kernel.js';
import { createRng } from '../core/random.js';
import { valueHistogram } from './value-histogram.js';

describe('valueHistogram', () => {
  it('bins the finite values over [min, max] as the core kernel does, the maximum in the last bin', () => {
    const x = new Float32Array([0, 0.5, 1, 1.5, 2, 2, 4]);
    const h = valueHistogram([x], 4);
    expect([h.lo, h.hi]).toEqual([0, 4]);
    expect(Array.from(h.counts)).toEqual([2, 2, 2, 1]);
    expect(Array.from(h.edges)).toEqual([0, 1, 2, 3, 4]);
    const ref = new Float64Array(4);
    referenceHistogramKernel.histogram(x, 0, 4, ref);
    expect(h.counts).toEqual(ref);
  });

  it('several arrays give the histogram of their concatenation, non-finite values counted apart', () => {
    const rng = createRng(3);
    const parts = [50, 1, 77].map((n) => Float32Array.from({ length: n }, () => rng() * 6 - 2));
    parts[2][5] = NaN;
    parts[0][9] = -Infinity;
    const all = new Float32Array(128);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    const split = valueHistogram(parts, 16, [-3]);
    const whole = valueHistogram([all], 16, [-3]);
    expect(split).toEqual(whole);
    expect(split.nonFinite).toBe(2);
    expect(split.lo).toBe(-3);
    expect(split.counts.reduce((a, b) => a + b, 0)).toBe(126);
  });

  it('widens a float64 bound to the float32 that still contains it', () => {
    const h = valueHistogram([new Float32Array([0])], 2, [0.1, -0.1]);
    expect(h.hi).toBeGreaterThanOrEqual(0.1);
    expect(h.lo).toBeLessThanOrEqual(-0.1);
    expect(h.hi).toBe(Math.fround(h.hi));
    expect(h.lo).toBe(Math.fround(h.lo));
  });

  it('all-equal data lands in the first bin; no finite value gives one empty bin; a bad bin count is refused', () => {
    expect(Array.from(valueHistogram([new Float32Array([2, 2])], 3).counts)).toEqual([2, 0, 0]);
    const none = valueHistogram([new Float32Array([NaN]), new Float32Array(0)], 3);
    expect([none.nonFinite, Array.from(none.edges), Array.from(none.counts)]).toEqual([1, [0, 0], [0]]);
    expect(() => valueHistogram([], 0)).toThrow(/bins must be a positive integer up to \d+, got 0/);
    expect(() => valueHistogram([], 2.5)).toThrow(/got 2.5/);
  });
});
