import { QuantError } from '../errors.js';
import { assertFinite } from '../validate.js';
import type { GptqKernelKind } from './gptq-kernels.js';
import { createHessianPanelWasm } from './gptq-kernels-wasm.js';

/** Accumulates a layer's GPTQ Hessian from batches of its inputs, keeping only H. */
export interface HessianAccumulator {
  /** Input channels (the weight's cols). */
  readonly cols: number;
  /** Input rows seen so far. */
  readonly samples: number;
  /** Adds `rows` input vectors x [rows, cols] (row-major). */
  add(x: Float32Array, rows: number): void;
  /** Folds in another accumulator's rows (calibration split over workers or chunks); `other` is left as it was. */
  merge(other: HessianAccumulator): void;
  /** H = 2/N · XᵀX over every row added (N rows), float64 [cols, cols], a fresh copy; all zeros before any row. */
  hessian(): Float64Array;
}

/** Rows transposed into a scratch panel per pass: the panel's dot products stay in cache while S is swept once per panel, not once per row. */
const PANEL = 32;

/**
 * The Hessian of GPTQ's layer-wise objective ‖WX − ŴX‖², H = 2/N · Σ xᵀx over the N input rows
 * (IST-DASLab's add_batch keeps the same running mean). Memory is cols² float64 whatever N is:
 * batches are folded in and dropped. Example: after add(x, n) of a [n, 4] batch, hessian() is
 * 4×4 and symmetric. `kernel`: 'wasm' (default; the sums live in a WebAssembly instance's memory)
 * or 'typescript', the same sums in the same order, bit-identical.
 */
export function hessianAccumulator(cols: number, opts: { readonly kernel?: GptqKernelKind } = {}): HessianAccumulator {
  if (!Number.isSafeInteger(cols) || cols <= 0) throw new QuantError('INVALID_ARGUMENT', `cols must be a positive integer, got ${cols}`);
  // The WebAssembly kernel (the same sums in the same order, bit-identical) keeps Σ in its own memory.
  const wasm = (opts.kernel ?? 'wasm') === 'wasm' ? createHessianPanelWasm(cols, PANEL) : undefined;
  // Σ xᵀx, upper triangle only (mirrored on read).
  const sum = wasm?.sum ?? new Float64Array(cols * cols);
  const panel = new Float64Array(wasm ? 0 : cols * PANEL);
  let samples = 0;
  return {
    cols,
    get samples() {
      return samples;
    },
    add(x: Float32Array, rows: number) {
      if (!Number.isSafeInteger(rows) || rows < 0 || x.length !== rows * cols) {
        throw new QuantError('SHAPE_MISMATCH', `expected ${rows} rows of ${cols} inputs (${rows * cols} values), got ${x.length} values`);
      }
      assertFinite(x, 'input');
      for (let r0 = 0; r0 < rows; r0 += PANEL) {
        const m = Math.min(PANEL, rows - r0);
        if (wasm) {
          wasm.add(x.subarray(r0 * cols, (r0 + m) * cols), m);
          continue;
        }
        // panel[c][t] = x[r0 + t][c]
        for (let t = 0; t < m; t++) {
          const src = (r0 + t) * cols;
          for (let c = 0; c < cols; c++) panel[c * PANEL + t] = x[src + c];
        }
        for (let i = 0; i < cols; i++) {
          const pi = i * PANEL;
          const si = i * cols;
          for (let j = i; j < cols; j++) {
            const pj = j * PANEL;
            let acc = 0;
            for (let t = 0; t < m; t++) acc += panel[pi + t] * panel[pj + t];
            sum[si + j] += acc;
          }
        }
      }
      samples += rows;
    },
    merge(other: HessianAccumulator) {
      if (other.cols !== cols) throw new QuantError('SHAPE_MISMATCH', `cannot merge a Hessian of ${other.cols} inputs into one of ${cols}`);
      if (other.samples === 0) return;
      // Σ xᵀx of the other = H · N / 2.
      const h = other.hessian();
      const f = other.samples / 2;
      for (let i = 0; i < cols; i++) for (let j = i; j < cols; j++) sum[i * cols + j] += h[i * cols + j] * f;
      samples += other.samples;
    },
    hessian() {
      const h = new Float64Array(cols * cols);
      if (samples === 0) return h;
      const f = 2 / samples;
      for (let i = 0; i < cols; i++) {
        for (let j = i; j < cols; j++) {
          const v = f * sum[i * cols + j];
          h[i * cols + j] = v;
          h[j * cols + i] = v;
        }
      }
      return h;
    },
  };
}
