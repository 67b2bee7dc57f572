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
      const sum = h[hi - j] - dot(l, ri, j * n, j);
      if (j === i) {
        if (!(sum > 0)) {
          throw new QuantError('INVALID_ARGUMENT', `the Hessian is not positive definite (pivot ${n - 1 - i} is ${sum}): raise the dampening`, { details: { pivot: n - 1 - i } });
        }
        l[ri + i] = Math.sqrt(sum);
      } else {
        l[ri + j] = sum / l[j * n + j];
      }
    }
  }
  // X = L⁻¹ row by row: X[i,:] = (e_i − Σ_{k<i} L[i,k]·X[k,:]) / L[i,i], each term a contiguous axpy.
  const x = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    // Four rows of X folded in per sweep: one load and store of X[i, j] per four multiply-adds.
    let k = 0;
    for (; k + 3 < i; k += 4) {
      const f0 = l[ri + k];
      const f1 = l[ri + k + 1];
      const f2 = l[ri + k + 2];
      const f3 = l[ri + k + 3];
      const r0 = k * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      // X is lower triangular: row k + m is zero past column k + m.
      for (let j = 0; j <= k; j++) x[ri + j] -= f0 * x[r0 + j] + f1 * x[r1 + j] + f2 * x[r2 + j] + f3 * x[r3 + j];
      x[ri + k + 1] -= f1 * x[r1 + k + 1] + f2 * x[r2 + k + 1] + f3 * x[r3 + k + 1];
      x[ri + k + 2] -= f2 * x[r2 + k + 2] + f3 * x[r3 + k + 2];
      x[ri + k + 3] -= f3 * x[r3 + k + 3];
    }
    for (; k < i; k++) {
      const f = l[ri + k];
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

/** Σ_{k<len} a[i+k]·a[j+k] with four partial sums (a single running sum waits on each add's latency). */
function dot(a: Float64Array, i: number, j: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < len; k += 4) {
    s0 += a[i + k] * a[j + k];
    s1 += a[i + k + 1] * a[j + k + 1];
    s2 += a[i + k + 2] * a[j + k + 2];
    s3 += a[i + k + 3] * a[j + k + 3];
  }
  for (; k < len; k++) s0 += a[i + k] * a[j + k];
  return s0 + s1 + (s2 + s3);
}
