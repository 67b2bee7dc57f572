import { describe, expect, it } from 'vitest';
import { histogramQuantile } from './histogram-quantile.js';

describe('histogramQuantile', () => {
  // Ten values 0.5, 1.5, ..., 9.5 in ten unit bins over [0, 10]: the in-bin estimate is exact.
  const counts = new Float64Array(10).fill(1);

  it('interpolates between order statistics as np.percentile does', () => {
    expect(histogramQuantile(counts, 0, 10, 0.5, 9.5, 50)).toBeCloseTo(5, 12);
    expect(histogramQuantile(counts, 0, 10, 0.5, 9.5, 25)).toBeCloseTo(2.75, 12);
  });

  it('returns the exact extremes at 0 and 100', () => {
    expect(histogramQuantile(counts, 0, 10, 0.5, 9.5, 0)).toBe(0.5);
    expect(histogramQuantile(counts, 0, 10, 0.5, 9.5, 100)).toBe(9.5);
  });

  it('places order statistics evenly inside a crowded bin and clamps to the observed range', () => {
    const c = Float64Array.from([0, 4, 0, 0]);
    // Four values in [1, 2): estimates 1.125, 1.375, 1.625, 1.875.
    expect(histogramQuantile(c, 0, 4, 1, 1.9, 100 / 3)).toBeCloseTo(1.375, 12);
    expect(histogramQuantile(c, 0, 4, 1.2, 1.9, 1)).toBeGreaterThanOrEqual(1.2);
  });
});
