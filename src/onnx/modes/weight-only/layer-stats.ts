import type { DriftAccumulator } from '../../../core/lowbit/drift-accumulator.js';
import { driftAccumulator } from '../../../core/lowbit/drift-accumulator.js';
import type { HessianAccumulator } from '../../../core/lowbit/hessian-accumulator.js';
import { hessianAccumulator } from '../../../core/lowbit/hessian-accumulator.js';
import { mulberry32 } from '../../../core/random.js';

/** Input rows per batch folded into a layer's Hessian at most (a stratified sample beyond: stratifiedRows). */
export const HESSIAN_ROWS = 4096;

/** Input rows AWQ keeps per layer to search its scales on (a stratified sample: bounded memory). */
export const AWQ_SAMPLE_ROWS = 256;

/**
 * Calibration statistics of one layer's input channels, accumulated batch by batch (only these
 * are kept, never the activations): mean |x| (AWQ), mean x² (the importance weights of search),
 * the Hessian 2/N·XᵀX (GPTQ, when asked) and a few input rows (AWQ's scale search).
 */
export interface LayerStats {
  readonly cols: number;
  rows: number;
  readonly sumAbs: Float64Array;
  readonly sumSq: Float64Array;
  readonly hessian?: HessianAccumulator;
  /**
   * A per-output-channel Conv weight under GPTQ: the Hessian over its row's (input channel, tap)
   * columns, from the input's im2col patches (addConvPatches); cols = channels · taps.
   */
  readonly patchHessian?: HessianAccumulator;
  /** GPTQ fitted to the float model (floatTargets): the drift of the input from the float model's over the Hessian's rows (driftAccumulator). */
  readonly drift?: DriftAccumulator;
  /** The same over the patch Hessian's patches. */
  readonly patchDrift?: DriftAccumulator;
  /** Up to AWQ_SAMPLE_ROWS input rows [n, cols]. */
  sample?: Float32Array;
}

/**
 * `patchCols`: channels · taps of a per-output-channel Conv weight whose patch Hessian GPTQ needs
 * (see LayerStats.patchHessian). `withDrift`: beside each Hessian, the input's drift from the float
 * model's (addRows and addConvPatches are then given the float model's values too).
 */
export function createLayerStats(cols: number, withHessian: boolean, withSample: boolean, patchCols?: number, withDrift = false): LayerStats {
  return {
    cols,
    rows: 0,
    sumAbs: new Float64Array(cols),
    sumSq: new Float64Array(cols),
    ...(withHessian && { hessian: hessianAccumulator(cols), ...(withDrift && { drift: driftAccumulator(cols) }) }),
    ...(patchCols !== undefined && { patchHessian: hessianAccumulator(patchCols), ...(withDrift && { patchDrift: driftAccumulator(patchCols) }) }),
    ...(withSample && { sample: new Float32Array(0) }),
  };
}

/**
 * Rows of an activation whose input channels are along `channelAxis`, channels last:
 * [..., C, ...rest] → [n, C] with n = every other index (a Conv input [N, C, H, W] gives N·H·W rows).
 * `channels` selects C's range [start, start + count) (one group of a grouped Conv).
 */
export function channelRows(x: Float32Array, dims: readonly number[], channelAxis: number, start = 0, count = dims[channelAxis]!): { rows: number; data: Float32Array } {
  const c = dims[channelAxis]!;
  const pre = dims.slice(0, channelAxis).reduce((a, d) => a * d, 1);
  const post = dims.slice(channelAxis + 1).reduce((a, d) => a * d, 1);
  const rows = pre * post;
  const data = new Float32Array(rows * count);
  for (let p = 0; p < pre; p++) {
    for (let k = 0; k < count; k++) {
      const src = (p * c + start + k) * post;
      for (let q = 0; q < post; q++) data[(p * post + q) * count + k] = x[src + q]!;
    }
  }
  return { rows, data };
}

/**
 * `take` of `rows` row indices, one drawn at random from each of `take` equal strata, in order.
 * A fixed stride would alias with the image: a [H, W] input's rows are row-major, so with W a
 * multiple of the stride every pick falls in the same few image columns (at 512 × 512 and 4096
 * rows, 8 of the 512), and a Hessian built from them is far from the whole input's. One seeded
 * draw per stratum keeps the picks spread over the rows and the run repeatable: the seed is the
 * rows already folded in, so each batch of a calibration draws its own.
 */
export function stratifiedRows(rows: number, take: number, seed: number): Int32Array {
  const random = mulberry32(seed);
  const out = new Int32Array(take);
  const step = rows / take;
  for (let t = 0; t < take; t++) out[t] = Math.min(rows - 1, Math.floor((t + random()) * step));
  return out;
}

/** The rows `picks` of data [n, cols], as [picks.length, cols]. */
function pickRows(data: Float32Array, cols: number, picks: Int32Array): Float32Array {
  const out = new Float32Array(picks.length * cols);
  for (let t = 0; t < picks.length; t++) out.set(data.subarray(picks[t]! * cols, picks[t]! * cols + cols), t * cols);
  return out;
}

/**
 * Folds rows [n, cols] into the statistics. `float`: the same rows in the float model, for the
 * drift (needed when the statistics keep one): it is taken over the Hessian's rows.
 */
export function addRows(s: LayerStats, data: Float32Array, rows: number, float?: Float32Array): void {
  if (s.drift && float?.length !== data.length) throw new Error(`the drift of ${s.cols} inputs needs the float model's rows beside the quantized ones`);
  const { cols } = s;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      const v = data[o + c]!;
      s.sumAbs[c] += Math.abs(v);
      s.sumSq[c] += v * v;
    }
  }
  if (s.hessian) {
    // A Conv input gives N·H·W rows per batch: HESSIAN_ROWS of them bound the cols²·rows work (the means above use every row).
    if (rows <= HESSIAN_ROWS) {
      s.hessian.add(data, rows);
      s.drift?.add(data, float!, rows);
    } else {
      const picks = stratifiedRows(rows, HESSIAN_ROWS, s.rows);
      const picked = pickRows(data, cols, picks);
      s.hessian.add(picked, HESSIAN_ROWS);
      s.drift?.add(picked, pickRows(float!, cols, picks), HESSIAN_ROWS);
    }
  }
  if (s.sample) {
    // Keep a stratified sample so every batch is represented: at most AWQ_SAMPLE_ROWS / 4 rows per batch.
    const room = AWQ_SAMPLE_ROWS - s.sample.length / cols;
    const take = Math.min(room, Math.ceil(AWQ_SAMPLE_ROWS / 4), rows);
    if (take > 0) {
      const next = new Float32Array(s.sample.length + take * cols);
      next.set(s.sample);
      next.set(pickRows(data, cols, stratifiedRows(rows, take, s.rows + 1)), s.sample.length);
      s.sample = next;
    }
  }
  s.rows += rows;
}

/** Mean |x| per channel. */
export function meanAbs(s: LayerStats): Float32Array {
  return Float32Array.from(s.sumAbs, (v) => v / Math.max(1, s.rows));
}

/** Mean x² per channel. */
export function meanSquare(s: LayerStats): Float32Array {
  return Float32Array.from(s.sumSq, (v) => v / Math.max(1, s.rows));
}
