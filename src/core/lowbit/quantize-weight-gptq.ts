import { QuantError } from '../errors.js';
import { assertFinite } from '../validate.js';
import { quantizeOne } from '../kernels/reference.js';
import type { GptqKernelKind } from './gptq-kernels.js';
import { createGptqKernels, floatTargetReference } from './gptq-kernels.js';
import { inverseCholeskyUpper } from './inverse-cholesky.js';
import { floatTargetWasm } from './gptq-kernels-wasm.js';
import type { LowBitOptions, LowBitResult, LowBitScheme } from './lowbit-scheme.js';
import { allocLowBit, blockParamsFromRange, finishLowBit, resolveLowBitScheme } from './lowbit-scheme.js';
import { shrunkRangeParams } from './shrunk-range-params.js';

/** Options of quantizeWeightGptq. */
export interface GptqOptions extends LowBitOptions {
  /** Dampening λ = damp · mean(diag H) added to the diagonal. Default 0.01. */
  readonly damp?: number;
  /** Quantize columns in order of descending diag H (AutoGPTQ's desc_act). Default false. */
  readonly actOrder?: boolean;
  /** Columns whose error updates are applied to the rest of W at once (the reference's blocksize). Default 128. */
  readonly lazyBatch?: number;
  /** Each block's grid by GPTQ's `mse` search (shrunkRangeParams) instead of its min/max. Default false. */
  readonly mse?: boolean;
  /** The float64 kernels: 'wasm' (default; the TypeScript reference where WebAssembly cannot hold the arrays) or 'typescript'. Bit-identical results. */
  readonly kernel?: GptqKernelKind;
  /**
   * The drift of the layer's input from the float model's, D = 2/N·Σ (x − x̃)ᵀx̃ [cols, cols]
   * (driftAccumulator; `hessian` is then that of x̃): GPTQ fits Ŵx̃ to the float model's Wx instead
   * of to Wx̃ (GPTAQ's asymmetric calibration), see addFloatTarget. Absent or all zeros: plain GPTQ.
   */
  readonly drift?: Float64Array;
  /**
   * With `drift`: α in [0, 1], the weight of the float model's output in the objective
   * (1 − α)·Σ‖(W − Ŵ)x̃‖² + α·Σ‖Wx − Ŵx̃‖², minimized by GPTQ on W + α·W·D·H⁻¹ (addFloatTarget).
   * Default 1; 0 is plain GPTQ.
   */
  readonly floatShare?: number;
}

/**
 * GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
 * Transformers"), as IST-DASLab's fasterquant and AutoGPTQ run it, on the quantkit grid: columns of
 * W [rows, cols] are quantized one at a time and each column's rounding error, divided by the
 * pivot of U (H⁻¹ = UᵀU, U upper, float64), is fed back into the columns not yet quantized, so
 * the layer's output error ‖WX − ŴX‖² (whose Hessian is `hessian` = 2/N·XᵀX, [cols, cols], see
 * hessianAccumulator) stays small.
 *
 * Steps: a dead input (H_ii = 0) gets H_ii = 1 and its weight column zeroed; λ = damp·mean(diag H)
 * is added to the diagonal; updates inside a lazy batch of columns are immediate, those to later
 * columns are applied once per batch (W[:, i2:] −= Err·U[i1:i2, i2:]). A block's scale and zero
 * point (the same formula as `quantize`: chooseQParams of its range) are fixed when its first
 * column is reached, from W as the reference holds it then: with every earlier lazy batch's
 * updates applied but not those of the current batch (the reference reads W, not its W1). With
 * `mse` the block's grid is the reference's `mse` search over shrunk ranges of those same values.
 *
 * actOrder: columns are visited by descending diag H (a stable sort, ties in column order); codes
 * and parameters stay in the original column order and a column keeps its original block, whose
 * parameters are computed up front from W after dead-column zeroing (AutoGPTQ's static_groups,
 * as onnxruntime's writer needs: MatMulNBits has no per-column group index).
 *
 * Arithmetic: W and the feedback are float64; a code is quantizeOne(w, scale, zeroPoint) (the
 * float32 division of `quantize`), its value f32((q − zeroPoint)·scale). With a diagonal Hessian
 * every feedback term is 0 and the result is `rtnQuantizeBlocks` exactly.
 * Example: quantizeWeightGptq(w, [rows, cols], acc.hessian(), { bits: 4, blockSize: 32 }).
 */
export function quantizeWeightGptq(w: Float32Array, shape: readonly number[], hessian: Float64Array, opts: GptqOptions): LowBitResult {
  const s = resolveLowBitScheme(w, shape, opts);
  const { rows, cols, blockSize: g, nBlocks } = s;
  const damp = opts.damp ?? 0.01;
  const lazy = opts.lazyBatch ?? 128;
  const actOrder = opts.actOrder ?? false;
  if (!(damp >= 0) || !Number.isFinite(damp)) throw new QuantError('INVALID_ARGUMENT', `damp must be a finite number ≥ 0, got ${damp}`);
  if (!Number.isSafeInteger(lazy) || lazy <= 0) throw new QuantError('INVALID_ARGUMENT', `lazyBatch must be a positive integer, got ${lazy}`);
  if (hessian.length !== cols * cols) throw new QuantError('SHAPE_MISMATCH', `expected a [${cols}, ${cols}] Hessian (${cols * cols} values), got ${hessian.length}`);
  assertFinite(hessian, 'Hessian');

  let anyAlive = false;
  for (let i = 0; i < cols && !anyAlive; i++) anyAlive = hessian[i * cols + i] !== 0;
  // Every input dead means no calibration reached the layer: zeroing the whole weight would be the reference's answer, and never what the caller meant.
  if (!anyAlive) throw new QuantError('NOT_CALIBRATED', 'the Hessian is all zeros: add calibration inputs to the accumulator before quantizing with GPTQ');
  // Dead inputs never reach the output: any weight works, zero is what the reference writes.
  const h0 = Float64Array.from(hessian);
  const wOrig = Float64Array.from(w);
  for (let i = 0; i < cols; i++) {
    if (h0[i * cols + i] === 0) {
      h0[i * cols + i] = 1;
      for (let r = 0; r < rows; r++) wOrig[r * cols + i] = 0;
    }
  }
  let floatShare = 0;
  if (opts.drift) {
    const drift = opts.drift;
    if (drift.length !== cols * cols) throw new QuantError('SHAPE_MISMATCH', `expected a [${cols}, ${cols}] drift (${cols * cols} values), got ${drift.length}`);
    assertFinite(drift, 'drift');
    floatShare = opts.floatShare ?? 1;
    if (!(floatShare >= 0 && floatShare <= 1)) throw new QuantError('INVALID_ARGUMENT', `floatShare must be a number in [0, 1], got ${floatShare}`);
  }
  // Act order factors H permuted, not the H the target needs: the target then takes its own factor.
  if (floatShare > 0 && actOrder) addFloatTarget(wOrig, w, rows, cols, h0, opts.drift!, floatShare, damp, opts.kernel ?? 'wasm');
  const { codes, scales, zeroPoints } = allocLowBit(s);
  // perm[k] = the original column visited k-th.
  const perm = new Int32Array(cols);
  for (let i = 0; i < cols; i++) perm[i] = i;
  let wk: Float64Array = wOrig;
  let h = h0;
  if (actOrder) {
    for (let b = 0; b < nBlocks; b++) for (let r = 0; r < rows; r++) setBlockParams(s, wOrig, r, b * g, Math.min(cols, (b + 1) * g), scales, zeroPoints, r * nBlocks + b, opts.mse);
    const diag = Array.from({ length: cols }, (_, i) => h0[i * cols + i]);
    perm.sort((a, b) => diag[b] - diag[a] || a - b);
    wk = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) wk[r * cols + k] = wOrig[r * cols + perm[k]];
    h = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) h[i * cols + j] = h0[perm[i] * cols + perm[j]];
  }
  let meanDiag = 0;
  for (let i = 0; i < cols; i++) meanDiag += h[i * cols + i];
  const lambda = (damp * meanDiag) / cols;
  for (let i = 0; i < cols; i++) h[i * cols + i] += lambda;
  const batch = Math.min(lazy, cols);
  const kernels = createGptqKernels(opts.kernel ?? 'wasm', rows, cols, batch, floatShare > 0 && !actOrder);
  kernels.wk.set(wk);
  wk = kernels.wk;
  const u = kernels.factor(h);
  // Without act order this H is the target's own dampened Hessian, the same bits as addFloatTarget's: one factor serves both.
  if (floatShare > 0 && !actOrder) kernels.addFloatTarget(w, opts.drift!, floatShare);

  const { qmin, qmax } = s;
  const { w1, err } = kernels;
  for (let i1 = 0; i1 < cols; i1 += lazy) {
    const i2 = Math.min(cols, i1 + lazy);
    const count = i2 - i1;
    for (let r = 0; r < rows; r++) for (let i = 0; i < count; i++) w1[r * count + i] = wk[r * cols + i1 + i];
    for (let i = 0; i < count; i++) {
      const col = i1 + i;
      const orig = perm[col];
      const block = Math.floor(orig / g);
      if (!actOrder && col % g === 0) {
        for (let r = 0; r < rows; r++) setBlockParams(s, wk, r, col, Math.min(cols, col + g), scales, zeroPoints, r * nBlocks + block, opts.mse);
      }
      const d = u[col * cols + col];
      for (let r = 0; r < rows; r++) {
        const p = r * nBlocks + block;
        const scale = scales[p];
        const zp = zeroPoints[p];
        const at = r * count;
        const v = w1[at + i];
        const q = quantizeOne(v, scale, zp, qmin, qmax);
        codes[r * cols + orig] = q;
        err[at + i] = (v - Math.fround((q - zp) * scale)) / d;
      }
      // Rows are independent: each row's error reaches its later columns after every row is quantized, with the same bits.
      kernels.columnUpdate(count, i, col * cols + i1);
    }
    kernels.lazyUpdate(i1, i2);
  }
  return finishLowBit(s, codes, scales, zeroPoints, opts.dequantize);
}

/** Block parameters of row r over columns [c0, c1) of wk (float64 values rounded to float32 first, as the weight would be stored). */
function setBlockParams(s: LowBitScheme, wk: Float64Array, r: number, c0: number, c1: number, scales: Float32Array, zeroPoints: ArrayLike<number> & { [i: number]: number }, p: number, mse = false): void {
  if (mse) {
    const best = shrunkRangeParams(s, wk, r * s.cols + c0, r * s.cols + c1);
    scales[p] = best.scale;
    zeroPoints[p] = best.zeroPoint;
    return;
  }
  let min = Infinity;
  let max = -Infinity;
  const base = r * s.cols;
  for (let c = c0; c < c1; c++) {
    const v = wk[base + c];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const { scale, zeroPoint } = blockParamsFromRange(s, min, max);
  scales[p] = scale;
  zeroPoints[p] = zeroPoint;
}

/**
 * GPTAQ's target (Li et al. 2025, "GPTAQ: Efficient Finetuning-Free Quantization for Asymmetric
 * Calibration"), added to `target` in place: with x̃ the input the layer sees once earlier layers are
 * quantized and x the float model's, Σ‖Wx − Ŵx̃‖² = Σ‖W*x̃ − Ŵx̃‖² + const for W* = W + W·D·H⁻¹
 * (D the drift, H = 2/N·Σx̃ᵀx̃, both over the same rows): the least-squares weight for x̃, whose
 * residual is orthogonal to every Ŵx̃. So GPTQ's greedy on W* under H minimizes the asymmetric
 * objective. With α = `share`, the mix (1 − α)·Σ‖(W − Ŵ)x̃‖² + α·Σ‖Wx − Ŵx̃‖² is likewise
 * Σ‖(W + α·W·D·H⁻¹ − Ŵ)x̃‖² + const (its gradient in Ŵ vanishes there); GPTAQ's authors scale
 * their dXXT term by 0.25 the same way. H is dampened as GPTQ dampens it (a ridge: with little
 * data W* stays near W); with D = 0, W* = W exactly. `target` holds W with dead columns zeroed (H_ii = 0 there, set to 1 in `h0`): D's
 * column is 0 there, so they stay 0; `w` is the weight as given, whose dead columns still reach
 * the float model's output and are reproduced, where they can be, through live ones.
 */
export function addFloatTarget(target: Float64Array, w: Float32Array, rows: number, cols: number, h0: Float64Array, drift: Float64Array, share: number, damp: number, kernel: GptqKernelKind): void {
  let meanDiag = 0;
  for (let i = 0; i < cols; i++) meanDiag += h0[i * cols + i];
  const lambda = (damp * meanDiag) / cols;
  const hd = Float64Array.from(h0);
  for (let i = 0; i < cols; i++) hd[i * cols + i] += lambda;
  // H⁻¹ = UᵀU (U upper): W·D·H⁻¹ = ((W·D)·Uᵀ)·U, two triangular sweeps.
  if (kernel === 'wasm' && floatTargetWasm(target, w, rows, cols, hd, drift, share)) return;
  floatTargetReference(target, w, inverseCholeskyUpper(hd, cols), drift, rows, cols, share);
}
