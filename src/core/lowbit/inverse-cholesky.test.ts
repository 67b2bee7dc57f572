import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { createRng } from '../random.js';
import { inverseCholeskyUpper } from './inverse-cholesky.js';

/** A = BBᵀ + n·I: symmetric positive definite and well conditioned. */
function spd(n: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const b = Float64Array.from({ length: n * n }, () => rng() * 2 - 1);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = i === j ? n : 0;
    for (let k = 0; k < n; k++) s += b[i * n + k] * b[j * n + k];
    a[i * n + j] = s;
  }
  return a;
}

describe('inverseCholeskyUpper', () => {
  it('gives an upper factor with a positive diagonal and UᵀU·H = I, for any size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.integer(), (n, seed) => {
        const h = spd(n, seed);
        const before = Float64Array.from(h);
        const u = inverseCholeskyUpper(h, n);
        expect(Array.from(h)).toEqual(Array.from(before));
        for (let i = 0; i < n; i++) {
          expect(u[i * n + i]).toBeGreaterThan(0);
          for (let j = 0; j < i; j++) expect(u[i * n + j]).toBe(0);
        }
        const inv = new Float64Array(n * n);
        for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let m = 0; m <= Math.min(i, k); m++) inv[i * n + k] += u[m * n + i] * u[m * n + k];
        let worst = 0;
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
          let s = 0;
          for (let k = 0; k < n; k++) s += inv[i * n + k] * h[k * n + j];
          worst = Math.max(worst, Math.abs(s - (i === j ? 1 : 0)));
        }
        expect(worst).toBeLessThan(1e-10);
      }),
      { seed: 5, numRuns: 40 },
    );
  });

  it('matches the factor of a known inverse: H = diag(4, 9) gives U = diag(1/2, 1/3)', () => {
    expect(Array.from(inverseCholeskyUpper(new Float64Array([4, 0, 0, 9]), 2))).toEqual([0.5, 0, 0, 1 / 3]);
  });

  it('refuses a matrix that is not positive definite, naming the pivot', () => {
    expectQuantError(() => inverseCholeskyUpper(new Float64Array([1, 2, 2, 1]), 2), 'INVALID_ARGUMENT', /not positive definite/);
    expectQuantError(() => inverseCholeskyUpper(new Float64Array(3), 2), 'SHAPE_MISMATCH');
  });
});
