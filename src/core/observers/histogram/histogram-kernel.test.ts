import { describe, expect, it } from 'vitest';
import { binScale, referenceHistogramKernel } from './histogram-kernel.js';

describe('the reference histogram kernel', () => {
  it('bins by the float32 rule, putting hi in the last bin', () => {
    const counts = new Float64Array(4);
    referenceHistogramKernel.histogram(Float32Array.from([0, 0.99, 1, 2.5, 4]), 0, 4, counts);
    expect(Array.from(counts)).toEqual([2, 1, 1, 1]);
    expect(binScale(0, 4, 4)).toBe(1);
  });

  it('adds to the counts it is given', () => {
    const counts = Float64Array.from([1, 1]);
    referenceHistogramKernel.histogram(Float32Array.from([-1, 1]), -1, 1, counts);
    expect(Array.from(counts)).toEqual([2, 2]);
  });

  it('puts everything in bin 0 of a degenerate span', () => {
    const counts = new Float64Array(3);
    referenceHistogramKernel.histogram(Float32Array.from([5, 5, 5]), 5, 5, counts);
    expect(Array.from(counts)).toEqual([3, 0, 0]);
  });

  it('saturates an offset that overflows float32 into the last bin', () => {
    const counts = new Float64Array(2);
    referenceHistogramKernel.histogram(Float32Array.from([-3e38, 3e38]), -3e38, 3e38, counts);
    expect(Array.from(counts)).toEqual([1, 1]);
  });
});
