import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rebinHistogram } from './rebin-histogram.js';

describe('rebinHistogram', () => {
  it('is the identity on the same span', () => {
    const counts = Float64Array.from([1, 0, 5, 2]);
    const out = new Float64Array(4);
    rebinHistogram(counts, -1, 3, out, -1, 3);
    expect(Array.from(out)).toEqual([1, 0, 5, 2]);
  });

  it('splits a bin in proportion to its overlap', () => {
    // Old bins of width 1 on [0, 2]; new bins of width 1.5 on [0, 3].
    const out = new Float64Array(2);
    rebinHistogram(Float64Array.from([4, 4]), 0, 2, out, 0, 3);
    expect(Array.from(out)).toEqual([4 + 2, 2]);
  });

  it('folds pairs of bins exactly when the new span doubles on aligned edges', () => {
    const out = new Float64Array(4);
    rebinHistogram(Float64Array.from([1, 2, 3, 4]), 0, 4, out, 0, 8);
    expect(Array.from(out)).toEqual([3, 7, 0, 0]);
  });

  it('puts a degenerate histogram in the bin holding its value', () => {
    const out = new Float64Array(4);
    rebinHistogram(Float64Array.from([7, 0, 0]), 2.5, 2.5, out, 0, 4);
    expect(Array.from(out)).toEqual([0, 0, 7, 0]);
  });

  it('preserves the total and keeps mass inside the old span', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(1000), { minLength: 1, maxLength: 40 }),
        fc.double({ min: -100, max: 100, noNaN: true }),
        fc.double({ min: 0.01, max: 50, noNaN: true }),
        fc.double({ min: 0, max: 50, noNaN: true }),
        fc.double({ min: 0, max: 50, noNaN: true }),
        fc.integer({ min: 1, max: 64 }),
        (counts, lo, width, padLo, padHi, newBins) => {
          const hi = lo + width;
          const out = new Float64Array(newBins);
          const newLo = lo - padLo;
          const newHi = hi + padHi;
          rebinHistogram(Float64Array.from(counts), lo, hi, out, newLo, newHi);
          const total = counts.reduce((s, v) => s + v, 0);
          const got = out.reduce((s, v) => s + v, 0);
          expect(Math.abs(got - total)).toBeLessThanOrEqual(1e-9 * Math.max(1, total));
          const w = (newHi - newLo) / newBins;
          out.forEach((v, k) => {
            if (v > 1e-9) {
              expect(newLo + (k + 1) * w).toBeGreaterThanOrEqual(lo - 1e-9 * Math.abs(lo) - 1e-12);
              expect(newLo + k * w).toBeLessThanOrEqual(hi + 1e-9 * Math.abs(hi) + 1e-12);
            }
          });
        },
      ),
    );
  });
});
