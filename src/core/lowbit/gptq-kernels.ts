import { inverseCholeskyUpper } from './inverse-cholesky.js';
import { createGptqKernelsWasm } from './gptq-kernels-wasm.js';

/** Which implementation runs GPTQ's float64 kernels: both give bit-identical results. */
export type GptqKernelKind = 'wasm' | 'typescript';

/**
 * The float64 work arrays and kernels of one quantizeWeightGptq call: W as float64 `wk` [rows, cols],
 * the lazy batch's working copy `w1` and scaled errors `err` (each [rows, batch] at most, indexed
 * with the current batch's width), the factor U (H⁻¹ = UᵀU), the in-batch and the lazy-batch
 * updates. The WebAssembly kernels keep every array in their own linear memory, so nothing is
 * copied between the steps.
 */
export interface GptqKernels {
  readonly wk: Float64Array;
  readonly w1: Float64Array;
  readonly err: Float64Array;
  /** U, upper triangular with H⁻¹ = UᵀU (inverseCholeskyUpper), for the [cols, cols] matrix h. */
  factor(h: Float64Array): Float64Array;
  /** For each row r with e = err[r·count + i] ≠ 0: w1[r·count + j] −= e·u[urow + j], j in (i, count). */
  columnUpdate(count: number, i: number, urow: number): void;
  /** wk[:, i2:] −= err · u[i1:i2, i2:] (err [rows, i2 − i1]). */
  lazyUpdate(i1: number, i2: number): void;
  /**
   * wk += share · W·D·H⁻¹ with the factor of the last factor(h) (floatTargetReference); only on
   * kernels created with `floatTarget`, after factor. `w` is W [rows, cols] as float32.
   */
  addFloatTarget(w: Float32Array, drift: Float64Array, share: number): void;
}

/**
 * The kernels for a [rows, cols] weight with lazy batches of `batch` columns: WebAssembly where it
 * can hold the arrays (they need about (2·cols² + rows·cols + 2·rows·batch)·8 bytes below 4 GiB,
 * and with `floatTarget`, room for addFloatTarget, another (rows·cols / 2 + 48·cols)·8), the
 * TypeScript reference otherwise or when asked.
 */
export function createGptqKernels(kind: GptqKernelKind, rows: number, cols: number, batch: number, floatTarget = false): GptqKernels {
  if (kind === 'wasm') {
    const k = createGptqKernelsWasm(rows, cols, batch, floatTarget);
    if (k) return k;
  }
  return createGptqKernelsReference(rows, cols, batch);
}

/**
 * target += share · W·D·H⁻¹ with H⁻¹ = UᵀU (U upper triangular), as ((W·D)·Uᵀ)·U, row by row: the
 * definition the WebAssembly kernel (floatTarget in gptq.ts) is held to bit for bit. `w` is W
 * [rows, cols], `drift` D [cols, cols].
 */
export function floatTargetReference(target: Float64Array, w: Float32Array, u: Float64Array, drift: Float64Array, rows: number, cols: number, share: number): void {
  const wd = new Float64Array(cols);
  const t = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    wd.fill(0);
    for (let i = 0; i < cols; i++) {
      const a = w[r * cols + i];
      const di = i * cols;
      for (let j = 0; j < cols; j++) wd[j] += a * drift[di + j];
    }
    for (let i = 0; i < cols; i++) {
      const ui = i * cols;
      let acc = 0;
      for (let j = i; j < cols; j++) acc += wd[j] * u[ui + j];
      t[i] = share * acc;
    }
    const o = r * cols;
    for (let i = 0; i < cols; i++) {
      const a = t[i];
      if (a === 0) continue;
      const ui = i * cols;
      for (let j = i; j < cols; j++) target[o + j] += a * u[ui + j];
    }
  }
}

/** The TypeScript reference of GptqKernels (the definition the WebAssembly kernels are held to bit for bit). */
export function createGptqKernelsReference(rows: number, cols: number, batch: number): GptqKernels {
  const wk = new Float64Array(rows * cols);
  const w1 = new Float64Array(rows * batch);
  const err = new Float64Array(rows * batch);
  let u: Float64Array = new Float64Array(0);
  return {
    wk,
    w1,
    err,
    factor(h) {
      u = inverseCholeskyUpper(h, cols);
      return u;
    },
    columnUpdate(count, i, urow) {
      for (let r = 0; r < rows; r++) {
        const at = r * count;
        const e = err[at + i];
        if (e !== 0) for (let j = i + 1; j < count; j++) w1[at + j] -= e * u[urow + j];
      }
    },
    lazyUpdate(i1, i2) {
      lazyUpdate(wk, err, u, rows, cols, i1, i2);
    },
    addFloatTarget(w, drift, share) {
      floatTargetReference(wk, w, u, drift, rows, cols, share);
    },
  };
}

/** Columns of W updated per sweep of the lazy-batch update: the panel of U they read (lazyBatch × 256 float64) stays in L2. */
const UPDATE_TILE = 256;

/** W[:, i2:] −= Err · U[i1:i2, i2:] (Err is [rows, i2 − i1]), tiled over columns so U's panel stays in cache across rows. */
function lazyUpdate(wk: Float64Array, err: Float64Array, u: Float64Array, rows: number, cols: number, i1: number, i2: number): void {
  const count = i2 - i1;
  for (let j0 = i2; j0 < cols; j0 += UPDATE_TILE) {
    const j1 = Math.min(cols, j0 + UPDATE_TILE);
    let r = 0;
    // Two rows and four error terms per sweep: each U value loaded serves two rows, each W value takes four terms per load and store.
    for (; r + 1 < rows; r += 2) {
      const wa = r * cols;
      const wb = wa + cols;
      const ea = r * count;
      const eb = ea + count;
      let k = 0;
      for (; k + 3 < count; k += 4) {
        const a0 = err[ea + k];
        const a1 = err[ea + k + 1];
        const a2 = err[ea + k + 2];
        const a3 = err[ea + k + 3];
        const b0 = err[eb + k];
        const b1 = err[eb + k + 1];
        const b2 = err[eb + k + 2];
        const b3 = err[eb + k + 3];
        const u0 = (i1 + k) * cols;
        const u1 = u0 + cols;
        const u2 = u1 + cols;
        const u3 = u2 + cols;
        for (let j = j0; j < j1; j++) {
          const x0 = u[u0 + j];
          const x1 = u[u1 + j];
          const x2 = u[u2 + j];
          const x3 = u[u3 + j];
          wk[wa + j] -= a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3;
          wk[wb + j] -= b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3;
        }
      }
      for (; k < count; k++) {
        const a = err[ea + k];
        const b = err[eb + k];
        const uk = (i1 + k) * cols;
        for (let j = j0; j < j1; j++) {
          const x = u[uk + j];
          wk[wa + j] -= a * x;
          wk[wb + j] -= b * x;
        }
      }
    }
    for (; r < rows; r++) {
      const wr = r * cols;
      const er = r * count;
      let k = 0;
      for (; k + 3 < count; k += 4) {
        const e0 = err[er + k];
        const e1 = err[er + k + 1];
        const e2 = err[er + k + 2];
        const e3 = err[er + k + 3];
        const u0 = (i1 + k) * cols;
        const u1 = u0 + cols;
        const u2 = u1 + cols;
        const u3 = u2 + cols;
        for (let j = j0; j < j1; j++) wk[wr + j] -= e0 * u[u0 + j] + e1 * u[u1 + j] + e2 * u[u2 + j] + e3 * u[u3 + j];
      }
      for (; k < count; k++) {
        const e = err[er + k];
        const uk = (i1 + k) * cols;
        for (let j = j0; j < j1; j++) wk[wr + j] -= e * u[uk + j];
      }
    }
  }
}
