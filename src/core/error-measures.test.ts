import { describe, expect, it } from 'vitest';
import { errorMeasures } from './error-measures.js';

describe('errorMeasures', () => {
  it('is MSE, SQNR and max |error| over the finite values', () => {
    const m = errorMeasures([1, 2, NaN], [1, 2.5, 0]);
    expect(m).toEqual({ mse: 0.125, sqnrDb: 10 * Math.log10(5 / 0.25), maxAbsError: 0.5, count: 2 });
    expect(errorMeasures([1], [1]).sqnrDb).toBe(Infinity);
  });
});
