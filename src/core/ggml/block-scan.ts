// The scans every ggml quantizer starts a block with, in ggml-quants.c's float32 arithmetic.

const f = Math.fround;

/**
 * The value of largest magnitude among x[xo..xo+n), signed (the first on ties; NaN never wins, as
 * in C's `if (amax < fabsf(v))`), or 0 for a block of zeros. Its magnitude is the block's amax.
 */
export function largestMagnitude(x: Float32Array, xo: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < n; j++) {
    const v = x[xo + j];
    const a = Math.abs(v);
    if (amax < a) {
      amax = a;
      max = v;
    }
  }
  return max;
}

/** Row variance term sigma2 = Σx²/n of the importance-matrix paths, in float32. */
export function rowSigma2(x: Float32Array, xo: number, n: number): number {
  let sumX2 = 0;
  for (let j = 0; j < n; j++) sumX2 = f(sumX2 + f(x[xo + j] * x[xo + j]));
  return f(sumX2 / n);
}

/** weight[j] = qw[j]·sqrt(sigma2 + x[j]²), the importance weighting of the legacy and k-quant paths. */
export function imatrixWeights(
  x: Float32Array, xo: number, qw: Float32Array, qo: number, sigma2: number, n: number, out: Float32Array,
): void {
  for (let j = 0; j < n; j++) {
    const v = x[xo + j];
    out[j] = f(qw[qo + j] * f(Math.sqrt(f(sigma2 + f(v * v)))));
  }
}

/**
 * The importance-matrix path of the 32-value legacy types (quantize_row_q{4,5}_{0,1}_impl): rows of
 * `rowLength`, each with its sigma2, cut into 32-value blocks whose weights are filled into `weight`
 * before `visit(xo, block)` (xo the block's first value, block its index in x).
 */
export function forEachWeightedBlock(
  x: Float32Array, rowLength: number, imatrix: Float32Array, weight: Float32Array, visit: (xo: number, block: number) => void,
): void {
  for (let r = 0; r < x.length; r += rowLength) {
    const sigma2 = rowSigma2(x, r, rowLength);
    for (let c = 0; c < rowLength; c += 32) {
      const xo = r + c;
      imatrixWeights(x, xo, imatrix, c, sigma2, 32, weight);
      visit(xo, xo / 32);
    }
  }
}
