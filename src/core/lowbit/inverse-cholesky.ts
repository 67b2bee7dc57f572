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
    let j = 0;
    // Two entries of row i per sweep over it: each L[i, k] loaded serves both dot products.
    for (; j + 1 < i; j += 2) {
      const rj = j * n;
      const rj1 = rj + n;
      let a0 = 0;
      let a1 = 0;
      let b0 = 0;
      let b1 = 0;
      let k = 0;
      for (; k + 1 < j; k += 2) {
        const x0 = l[ri + k];
        const x1 = l[ri + k + 1];
        a0 += x0 * l[rj + k];
        a1 += x1 * l[rj + k + 1];
        b0 += x0 * l[rj1 + k];
        b1 += x1 * l[rj1 + k + 1];
      }
      for (; k < j; k++) {
        a0 += l[ri + k] * l[rj + k];
        b0 += l[ri + k] * l[rj1 + k];
      }
      const lij = (h[hi - j] - (a0 + a1)) / l[rj + j];
      l[ri + j] = lij;
      l[ri + j + 1] = (h[hi - j - 1] - (b0 + b1 + lij * l[rj1 + j])) / l[rj1 + j + 1];
    }
    for (; j < i; j++) l[ri + j] = (h[hi - j] - dot(l, ri, j * n, j)) / l[j * n + j];
    const pivot = h[hi - i] - dot(l, ri, ri, i);
    if (!(pivot > 0)) {
      throw new QuantError('INVALID_ARGUMENT', `the Hessian is not positive definite (pivot ${n - 1 - i} is ${pivot}): raise the dampening`, { details: { pivot: n - 1 - i } });
    }
    l[ri + i] = Math.sqrt(pivot);
  }
  // X = L⁻¹ row by row: X[i,:] = (e_i − Σ_{k<i} L[i,k]·X[k,:]) / L[i,i], each term a contiguous axpy.
  const x = new Float64Array(n * n);
  let i = 0;
  // Rows i and i + 1 together: each X[k, j] loaded serves both (row i + 1's k = i term waits for row i).
  for (; i + 1 < n; i += 2) {
    const ri = i * n;
    const ri1 = ri + n;
    let k = 0;
    for (; k + 1 < i; k += 2) {
      const fa0 = l[ri + k];
      const fa1 = l[ri + k + 1];
      const fb0 = l[ri1 + k];
      const fb1 = l[ri1 + k + 1];
      const r0 = k * n;
      const r1 = r0 + n;
      // X is lower triangular: row k is zero past column k.
      for (let j = 0; j <= k; j++) {
        const x0 = x[r0 + j];
        const x1 = x[r1 + j];
        x[ri + j] -= fa0 * x0 + fa1 * x1;
        x[ri1 + j] -= fb0 * x0 + fb1 * x1;
      }
      const x1 = x[r1 + k + 1];
      x[ri + k + 1] -= fa1 * x1;
      x[ri1 + k + 1] -= fb1 * x1;
    }
    for (; k < i; k++) {
      const fa = l[ri + k];
      const fb = l[ri1 + k];
      const rk = k * n;
      for (let j = 0; j <= k; j++) {
        x[ri + j] -= fa * x[rk + j];
        x[ri1 + j] -= fb * x[rk + j];
      }
    }
    finishRow(x, l, ri, i);
    const f = l[ri1 + i];
    for (let j = 0; j <= i; j++) x[ri1 + j] -= f * x[ri + j];
    finishRow(x, l, ri1, i + 1);
  }
  if (i < n) {
    const ri = i * n;
    for (let k = 0; k < i; k++) {
      const f = l[ri + k];
      const rk = k * n;
      for (let j = 0; j <= k; j++) x[ri + j] -= f * x[rk + j];
    }
    finishRow(x, l, ri, i);
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

/** Row i of L⁻¹ once every earlier row is folded in: (e_i − Σ) / L[i,i]. */
function finishRow(x: Float64Array, l: Float64Array, ri: number, i: number): void {
  x[ri + i] += 1;
  const inv = 1 / l[ri + i];
  for (let j = 0; j <= i; j++) x[ri + j] *= inv;
}
