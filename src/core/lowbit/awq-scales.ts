import { QuantError } from '../errors.js';
import { assertFinite } from '../validate.js';
import type { LowBitOptions, LowBitResult } from './lowbit-scheme.js';
import { resolveLowBitScheme } from './lowbit-scheme.js';
import { rtnQuantizeBlocks } from './rtn-quantize-blocks.js';

/** Options of awqScales. */
export interface AwqOptions extends Omit<LowBitOptions, 'dequantize'> {
  /** α is searched over k / grid for k = 0..grid−1 (llm-awq's n_grid). Default 20. */
  readonly grid?: number;
  /** Calibration inputs x [n, cols] (row-major) the output error is measured on; without them the error is weighted by mean|x|² per input channel. */
  readonly inputs?: Float32Array;
}

/** The searched per-input-channel scales and what they cost. */
export interface AwqSearch {
  /** s [cols], float32: quantize W·diag(s) and feed the layer x / s (fold 1/s into the producer of x). */
  readonly scales: Float32Array;
  /** The α that gave them (s = mean|x|^α, normalized). */
  readonly alpha: number;
  /** The chosen α's error (mean squared output error with inputs, else the activation-weighted weight error). */
  readonly error: number;
  /** Every α's error, in grid order (errors[k] for α = k / grid). */
  readonly errors: Float64Array;
}

/**
 * AWQ's scale search (Lin et al. 2023, "AWQ: Activation-aware Weight Quantization"), as
 * llm-awq's auto_scale runs it for one linear layer: for α = k/grid, s_j = max(m_j^α, 1e-4) with
 * m = `activationMeanAbs` (mean |x_j| over the calibration inputs), normalized as
 * s / sqrt(max s · min s); W·diag(s) is quantized with rtnQuantizeBlocks, dequantized and divided
 * by s (float32 throughout, as the quantized layer computes), and the α whose
 * ‖(Ŵ − W)xᵀ‖² / (n·rows) over `inputs` is smallest wins (the first on a tie; α = 0 is plain RTN
 * with s = 1 up to the normalization). Without inputs the error is Σ m_j²·(Ŵ − W)²_rj / (rows·cols).
 * Salient channels (large |x|) get larger s, so their weights are quantized on a finer relative
 * grid. Example: awqScales(w, [rows, cols], meanAbs, { bits: 4, blockSize: 32, inputs: x }).
 */
export function awqScales(w: Float32Array, shape: readonly number[], activationMeanAbs: Float32Array, opts: AwqOptions): AwqSearch {
  const s = resolveLowBitScheme(w, shape, opts);
  const { rows, cols } = s;
  const grid = opts.grid ?? 20;
  if (!Number.isSafeInteger(grid) || grid <= 0) throw new QuantError('INVALID_ARGUMENT', `grid must be a positive integer, got ${grid}`);
  if (activationMeanAbs.length !== cols) throw new QuantError('SHAPE_MISMATCH', `expected ${cols} activation means (one per input channel), got ${activationMeanAbs.length}`);
  for (let j = 0; j < cols; j++) {
    const m = activationMeanAbs[j];
    if (!(m >= 0) || !Number.isFinite(m)) throw new QuantError('INVALID_ARGUMENT', `activation mean ${j} is ${m}: expected a finite number ≥ 0`);
  }
  const x = opts.inputs;
  if (x && (x.length === 0 || x.length % cols !== 0)) throw new QuantError('SHAPE_MISMATCH', `inputs must be [n, ${cols}] with n ≥ 1, got ${x.length} values`);
  if (x) assertFinite(x, 'input');
  const errors = new Float64Array(grid);
  let best = Infinity;
  let bestK = 0;
  let bestScales: Float32Array = new Float32Array(cols);
  for (let k = 0; k < grid; k++) {
    const scales = awqCandidate(activationMeanAbs, k / grid);
    const wq = dequantizedScaled(w, shape, scales, opts);
    const err = x ? outputError(w, wq, x, rows, cols) : weightedError(w, wq, activationMeanAbs, rows, cols);
    errors[k] = err;
    if (err < best) {
      best = err;
      bestK = k;
      bestScales = scales;
    }
  }
  return { scales: bestScales, alpha: bestK / grid, error: best, errors };
}

/** s = max(m^α, 1e-4) / sqrt(max · min), computed in float64 and stored as float32. */
export function awqCandidate(meanAbs: Float32Array, alpha: number): Float32Array {
  const n = meanAbs.length;
  const raw = new Float64Array(n);
  let max = -Infinity;
  let min = Infinity;
  for (let j = 0; j < n; j++) {
    const v = Math.max(meanAbs[j] ** alpha, 1e-4);
    raw[j] = v;
    if (v > max) max = v;
    if (v < min) min = v;
  }
  const norm = Math.sqrt(max * min);
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) out[j] = raw[j] / norm;
  return out;
}

/**
 * Quantizes W·diag(s) (float32 products) with rtnQuantizeBlocks: the codes and block parameters to
 * store, whose dequantized values divided by s reconstruct W. The layer must then see x / s,
 * folded into the op producing x or applied with a Mul. Example: applyAwqScales(w, shape,
 * awqScales(...).scales, { bits: 4, blockSize: 32 }).
 */
export function applyAwqScales(w: Float32Array, shape: readonly number[], scales: Float32Array, opts: LowBitOptions): LowBitResult {
  const s = resolveLowBitScheme(w, shape, opts);
  if (scales.length !== s.cols) throw new QuantError('SHAPE_MISMATCH', `expected ${s.cols} scales (one per input channel), got ${scales.length}`);
  for (let j = 0; j < s.cols; j++) {
    if (!(scales[j] > 0) || !Number.isFinite(scales[j])) throw new QuantError('INVALID_ARGUMENT', `scale ${j} is ${scales[j]}: expected a finite number > 0`);
  }
  const scaled = new Float32Array(w.length);
  for (let r = 0; r < s.rows; r++) for (let j = 0; j < s.cols; j++) scaled[r * s.cols + j] = w[r * s.cols + j] * scales[j];
  return rtnQuantizeBlocks(scaled, shape, opts);
}

/** Q(W·diag(s)) / s in float32. */
function dequantizedScaled(w: Float32Array, shape: readonly number[], scales: Float32Array, opts: AwqOptions): Float32Array {
  const { dequantized } = applyAwqScales(w, shape, scales, { ...opts, dequantize: true });
  const cols = scales.length;
  const out = dequantized!;
  for (let i = 0; i < out.length; i++) out[i] = out[i] / scales[i % cols];
  return out;
}

/** Σ over inputs and rows of ((Ŵ − W)·x)², divided by n·rows. */
function outputError(w: Float32Array, wq: Float32Array, x: Float32Array, rows: number, cols: number): number {
  const n = x.length / cols;
  const d = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) d[i] = wq[i] - w[i];
  let sum = 0;
  for (let t = 0; t < n; t++) {
    const xt = t * cols;
    for (let r = 0; r < rows; r++) {
      const dr = r * cols;
      let y = 0;
      for (let j = 0; j < cols; j++) y += d[dr + j] * x[xt + j];
      sum += y * y;
    }
  }
  return sum / (n * rows);
}

/** Σ m_j²·(Ŵ − W)²_rj / (rows·cols). */
function weightedError(w: Float32Array, wq: Float32Array, m: Float32Array, rows: number, cols: number): number {
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const e = wq[r * cols + j] - w[r * cols + j];
      sum += m[j] * m[j] * e * e;
    }
  }
  return sum / (rows * cols);
}
