/** How far reconstructed values x̂ are from the originals x, over the finite x. */
export interface ErrorMeasures {
  /** Σ(x − x̂)² / n, accumulated in float64. */
  readonly mse: number;
  /** 10·log10(Σx² / Σ(x − x̂)²); Infinity when the error is exactly 0. */
  readonly sqnrDb: number;
  /** max |x − x̂|. */
  readonly maxAbsError: number;
  /** Finite values measured (n). */
  readonly count: number;
}

/**
 * MSE, SQNR and max error of x̂ against x, skipping non-finite x. The one definition the CLI, the
 * service's upload_numpy answer and the dashboard share, so they agree to the last bit.
 * Example: errorMeasures([1, 2], [1, 2.5]) → { mse: 0.125, sqnrDb: 10·log10(5 / 0.25), maxAbsError: 0.5 }.
 */
export function errorMeasures(x: ArrayLike<number>, xhat: ArrayLike<number>): ErrorMeasures {
  let sumSq = 0;
  let sumX2 = 0;
  let maxAbs = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    const a = x[i];
    if (!Number.isFinite(a)) continue;
    const e = a - xhat[i];
    sumSq += e * e;
    sumX2 += a * a;
    if (Math.abs(e) > maxAbs) maxAbs = Math.abs(e);
    n++;
  }
  return {
    mse: n ? sumSq / n : 0,
    sqnrDb: sumSq === 0 ? Infinity : 10 * Math.log10(sumX2 / sumSq),
    maxAbsError: maxAbs,
    count: n,
  };
}
