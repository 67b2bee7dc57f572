import { applyAwqScales, awqScales } from '../../../core/lowbit/awq-scales.js';
import { hqqQuantize } from '../../../core/lowbit/hqq-quantize.js';
import type { LowBitOptions } from '../../../core/lowbit/lowbit-scheme.js';
import { quantizeWeightGptq } from '../../../core/lowbit/quantize-weight-gptq.js';
import { rtnQuantizeBlocks } from '../../../core/lowbit/rtn-quantize-blocks.js';
import { searchQuantize } from '../../../core/lowbit/search-quantize.js';
import { isQuantError } from '../../../core/errors.js';
import type { WeightMethod } from '../../quantize-options.js';
import type { LayerStats } from './layer-stats.js';
import { meanAbs, meanSquare } from './layer-stats.js';

export interface RowsMethodOptions extends LowBitOptions {
  readonly method: Exclude<WeightMethod, 'rtn'> | 'rtn';
  readonly damp: number;
  readonly actOrder: boolean;
  /** GPTQ with LayerStats.drift: the weight of the float model's output (GptqOptions.floatShare). */
  readonly floatShare?: number;
  /** AWQ: use these per-input-channel scales (length cols · groups) instead of searching them (a scale shared by the layers reading one activation, searched jointly and folded into its producer). */
  readonly awqScale?: Float32Array;
}

/** Codes [rows, cols] and block parameters [rows, nBlocks] of one weight matrix, and how they were chosen. */
export interface RowsResult {
  readonly codes: ArrayLike<number>;
  readonly scales: Float32Array;
  readonly zeroPoints: ArrayLike<number>;
  /** AWQ: the per-input-channel scale the weight was multiplied by (length cols · groups). */
  readonly inputScale?: Float32Array;
  readonly method: WeightMethod;
  readonly fallback?: string;
}

/** Why a calibrated method fell back for a weight no calibration batch reached. */
export const NO_DATA = "no calibration inputs reach this weight (no --calibration, or the node's calibration note says why: a branch no batch takes, a Loop body, an embedding)";

/**
 * Quantizes W [rows, cols] per block along cols with `method`. `stats` holds one LayerStats per
 * group of rows (one for an ordinary layer; `groups` for a grouped Conv, whose rows split evenly
 * and whose groups read disjoint input channels). gptq and awq need statistics; without them they
 * fall back to the calibration-free search (the result says so). search uses mean x² as its
 * importance weights when statistics exist, uniform weights otherwise; hqq never uses data.
 */
export function quantizeRowsWithMethod(w: Float32Array, rows: number, cols: number, options: RowsMethodOptions, stats?: readonly LayerStats[]): RowsResult {
  const base: LowBitOptions = { bits: options.bits, blockSize: options.blockSize, symmetric: options.symmetric, signed: options.signed };
  let method: WeightMethod = options.method;
  let fallback: string | undefined;
  // Statistics describe the op's input channels: a weight blocked along something else (a Conv's kernel taps) has none that match its columns.
  const matching = !stats || stats.every((s) => s.cols === cols);
  const usable = stats && stats.length > 0 && stats.every((s) => s.rows > 0) && rows % stats.length === 0 && matching;
  if ((method === 'gptq' || method === 'awq') && !usable) {
    method = 'search';
    // A weight no batch reached says so first: that, not the statistics' shape, is why it has none (a taps-blocked Conv gets the patch Hessian when it is reached).
    const reached = !stats || stats.some((s) => s.rows > 0);
    fallback = matching || !reached ? NO_DATA : `the calibration statistics are per input channel (${stats![0]!.cols}) and this weight is blocked along its kernel taps (${cols} a row)`;
  }
  if (method === 'gptq' && stats!.some((s) => !s.hessian)) {
    method = 'search';
    fallback = 'the Hessian was not accumulated for this weight';
  }
  const groups = usable ? stats!.length : 1;
  const groupRows = rows / groups;
  const nBlocks = Math.ceil(cols / options.blockSize);
  const codes = new Int16Array(rows * cols);
  const scales = new Float32Array(rows * nBlocks);
  const zeroPoints = new Int16Array(rows * nBlocks);
  const inputScale = method === 'awq' ? new Float32Array(cols * groups) : undefined;
  for (let g = 0; g < groups; g++) {
    const part = w.subarray(g * groupRows * cols, (g + 1) * groupRows * cols);
    const shape = [groupRows, cols];
    const s = usable ? stats![g] : undefined;
    let r;
    if (method === 'rtn') r = rtnQuantizeBlocks(part, shape, base);
    else if (method === 'hqq') r = hqqQuantize(part, shape, { ...base, optimizeScale: true });
    else if (method === 'search') r = searchQuantize(part, shape, { ...base, ...(s && { importance: meanSquare(s) }) });
    else if (method === 'gptq') {
      try {
        r = quantizeWeightGptq(part, shape, s!.hessian!.hessian(), { ...base, damp: options.damp, actOrder: options.actOrder, ...(s!.drift && { drift: s!.drift.drift(), ...(options.floatShare !== undefined && { floatShare: options.floatShare }) }) });
      } catch (e) {
        // Every input of this group was 0 on the calibration data (a dead branch): nothing to weigh the error by.
        if (!isQuantError(e) || e.code !== 'NOT_CALIBRATED') throw e;
        r = searchQuantize(part, shape, base);
        method = 'search';
        fallback = `the calibration inputs of this layer are all zero (${e.message})`;
      }
    }
    else {
      const channelScale = options.awqScale ? options.awqScale.subarray(g * cols, (g + 1) * cols) : awqScales(part, shape, meanAbs(s!), { ...base, ...(s!.sample && s!.sample.length && { inputs: s!.sample }) }).scales;
      r = applyAwqScales(part, shape, channelScale, base);
      inputScale!.set(channelScale, g * cols);
    }
    codes.set(r.codes, g * groupRows * cols);
    scales.set(r.scales, g * groupRows * nBlocks);
    zeroPoints.set(r.zeroPoints, g * groupRows * nBlocks);
  }
  return { codes, scales, zeroPoints, method, ...(inputScale && { inputScale }), ...(fallback && { fallback }) };
}
