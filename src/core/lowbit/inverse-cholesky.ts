import { QuantError } from '../errors.js';

/**
 * The upper-triangular Cholesky factor of the inverse of a symmetric positive definite matrix:
 * U with H⁻¹ = UᵀU, U upper with a positive diagonal (torch.linalg.cholesky(torch.cholesky_inverse(
 * torch.linalg.cholesky(H)), upper=True) in GPTQ), float64, row-major n×n.
 *
 * Computed without forming H⁻¹: with J the reversal permutation, Cholesky of JHJ = LLᵀ gives
 * H = (JLJ)(JLJ)ᵀ with JLJ upper, so H⁻¹ = UᵀU for U = (JLJ)⁻¹ = JL⁻¹J. The factor is unique, so
 * this is the same matrix in half the arithmetic (n³/3 + n³/6 multiply-adds instead of about 4n³/3).
 * `h` is not modified. Throws INVALID_ARGUMENT when H is not positive definite.
 */
export function inverseCholeskyUpper(h: Float64Array, n: number): Float64Array {
  if (h.length !== n * n) throw new QuantError('SHAPE_MISMATCH', `expected an ${n}×${n} matrix (${n * n} values), got ${h.length}`);
  // L = chol(JHJ), lower, row-major: L[i][j] pairs with H[n-1-i][n-1-j].
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    const hi = (n - 1 - i) * n + (n - 1);
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let sum = h[hi - j];
      for (let k = 0; k < j; k++) sum -= l[ri + k] * l[rj + k];
      if (j === i) {
        if (!(sum > 0)) {
          throw new QuantError('INVALID_ARGUMENT', `the Hessian is not positive definite (pivot ${n - 1 - i} is ${sum}): raise the dampening`, { details: { pivot: n - 1 - i } });
        }
        l[ri + i] = Math.sqrt(sum);
      } else {
        l[ri + j] = sum / l[rj + j];
      }
    }
  }
  // X = L⁻¹ row by row: X[i,:] = (e_i − Σ_{k<i} L[i,k]·X[k,:]) / L[i,i], each term a contiguous axpy.
  const x = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let k = 0; k < i; k++) {
      const f = l[ri + k];
      if (f === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) x[ri + j] -= f * x[rk + j];
    }
    x[ri + i] += 1;
    const inv = 1 / l[ri + i];
    for (let j = 0; j <= i; j++) x[ri + j] *= inv;
  }
  // U = J X J: U[i][j] = X[n-1-i][n-1-j].
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const xr = (n - 1 - i) * n + (n - 1);
    const ur = i * n;
    for (let j = i; j < n; j++) u[ur + j] = x[xr - j];
  }
  return u;
}
