import { describe, expect, it } from 'vitest';
import { largestMagnitude } from './block-scan.js';

// Every ggml quantizer's scale starts from this value: its sign decides the sign of d (Q4_0's
// d = max / −8), so the signed value, the first of equal magnitudes and C's NaN behaviour matter.
describe('largestMagnitude', () => {
  it('is the signed value of largest magnitude, the first of a tie, NaN never, 0 for zeros', () => {
    expect(largestMagnitude(Float32Array.of(1, -3, 2), 0, 3)).toBe(-3);
    expect(largestMagnitude(Float32Array.of(3, -3), 0, 2)).toBe(3);
    expect(largestMagnitude(Float32Array.of(-3, 3), 0, 2)).toBe(-3);
    expect(largestMagnitude(Float32Array.of(NaN, 0.5, NaN), 0, 3)).toBe(0.5);
    expect(largestMagnitude(new Float32Array(4), 0, 4)).toBe(0);
    expect(largestMagnitude(Float32Array.of(9, 1, -2, 9), 1, 2)).toBe(-2);
  });
});
