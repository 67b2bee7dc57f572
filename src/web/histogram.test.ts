import { describe, expect, it } from 'vitest';
import { valueHistogram } from '../engine/value-histogram.js';
import { computeHistogram } from './histogram.js';

// The binning itself is the engine's (src/engine/value-histogram.test.ts); the page must only hand
// it one array and the range to include, so its figures are the service's.
describe('computeHistogram', () => {
  it("is the engine's valueHistogram of one array, with the range to include passed on", () => {
    const x = new Float32Array([1, NaN, 2, Infinity, -Infinity, 3, 0.5]);
    expect(computeHistogram(x, 8, [-1, 5])).toEqual(valueHistogram([x], 8, [-1, 5]));
    const h = computeHistogram(x, 8, [-1, 5]);
    expect([h.lo, h.hi, h.nonFinite]).toEqual([-1, 5, 3]);
    expect(computeHistogram(x, 4)).toEqual(valueHistogram([x], 4));
  });
});
