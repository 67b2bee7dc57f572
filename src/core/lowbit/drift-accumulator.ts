import { QuantError } from '../errors.js';
import { assertFinite } from '../validate.js';
import type { GptqKernelKind } from './gptq-kernels.js';
import { createDriftPanelWasm } from './gptq-kernels-wasm.js';

/**
 * Accumulates how a layer's input drifts from the float model's once earlier layers are quantized:
 * D = 2/N · Σ (x − x̃)ᵀ x̃ over N paired rows, where x̃ is the row the layer sees in the model
 * being quantized and x the same row in the float model (the same scale as hessianAccumulator's
 * H = 2/N · Σ x̃ᵀ x̃). GPTQ given D (GptqOptions.drift) fits the layer to the float model's output
 * W·x rather than to W·x̃ (GPTAQ, Li et al. 2025, "asymmetric calibration"). Memory is cols²
 * float64 whatever N is.
 */
export interface DriftAccumulator {
  readonly cols: number;
  /** Row pairs seen so far. */
  readonly samples: number;
  /** Adds `rows` pairs: x̃ [rows, cols] as the quantized model gives it, x [rows, cols] as the float model does (row-major). */
  add(quantized: Float32Array, float: Float32Array, rows: number): void;
  /** D = 2/N · Σ (x − x̃)ᵀ x̃, float64 [cols, cols] (row: the drifting channel, column: the channel it is weighed by), a fresh copy; zeros before any row. */
  drift(): Float64Array;
}

/** Rows gathered per sweep of D: their products stay in cache while D is swept once per panel. */
const PANEL = 16;

/**
 * `kernel`: 'wasm' (default; the sums live in a WebAssembly instance's memory) or 'typescript',
 * the same sums in the same order, bit-identical.
 */
export function driftAccumulator(cols: number, opts: { readonly kernel?: GptqKernelKind } = {}): DriftAccumulator {
  if (!Number.isSafeInteger(cols) || cols <= 0) throw new QuantError('INVALID_ARGUMENT', `cols must be a positive integer, got ${cols}`);
  const wasm = (opts.kernel ?? 'wasm') === 'wasm' ? createDriftPanelWasm(cols, PANEL) : undefined;
  const sum = wasm?.sum ?? new Float64Array(cols * cols);
  const dPanel = new Float64Array(wasm ? 0 : cols * PANEL);
  const qPanel = new Float64Array(wasm ? 0 : cols * PANEL);
  let samples = 0;
  return {
    cols,
    get samples() {
      return samples;
    },
    add(quantized, float, rows) {
      if (!Number.isSafeInteger(rows) || rows < 0 || quantized.length !== rows * cols || float.length !== rows * cols) {
        throw new QuantError('SHAPE_MISMATCH', `expected two sets of ${rows} rows of ${cols} inputs (${rows * cols} values each), got ${quantized.length} and ${float.length}`);
      }
      assertFinite(quantized, 'input');
      assertFinite(float, 'input');
      for (let r0 = 0; r0 < rows; r0 += PANEL) {
        const m = Math.min(PANEL, rows - r0);
        if (wasm) {
          wasm.add(quantized.subarray(r0 * cols, (r0 + m) * cols), float.subarray(r0 * cols, (r0 + m) * cols), m);
          continue;
        }
        // Panels channel-major: dPanel[i][t] = x − x̃ of row r0 + t, qPanel[j][t] = x̃.
        for (let t = 0; t < m; t++) {
          const src = (r0 + t) * cols;
          for (let c = 0; c < cols; c++) {
            const q = quantized[src + c]!;
            qPanel[c * PANEL + t] = q;
            dPanel[c * PANEL + t] = float[src + c]! - q;
          }
        }
        for (let i = 0; i < cols; i++) {
          const di = i * PANEL;
          const si = i * cols;
          let any = false;
          for (let t = 0; t < m; t++) if (dPanel[di + t] !== 0) any = true;
          // A channel that did not drift in these rows adds nothing: exact zeros are common (ReLU, unquantized inputs).
          if (!any) continue;
          for (let j = 0; j < cols; j++) {
            const qj = j * PANEL;
            let acc = 0;
            for (let t = 0; t < m; t++) acc += dPanel[di + t]! * qPanel[qj + t]!;
            sum[si + j] += acc;
          }
        }
      }
      samples += rows;
    },
    drift() {
      const d = new Float64Array(cols * cols);
      if (samples === 0) return d;
      const f = 2 / samples;
      for (let i = 0; i < d.length; i++) d[i] = f * sum[i]!;
      return d;
    },
  };
}
