import type { QuantDtypeName } from '../../../core/dtypes.js';
import { computeQParams, quantize } from '../../../core/quantize.js';
import type { BlockDtype, WeightMethod } from '../../quantize-options.js';
import type { LayerStats } from './layer-stats.js';
import { NO_DATA, quantizeRowsWithMethod } from './weight-methods.js';
import { meanSquare } from './layer-stats.js';
import { hqqQuantize } from '../../../core/lowbit/hqq-quantize.js';
import { searchQuantize } from '../../../core/lowbit/search-quantize.js';
import { quantizeWeightGptq } from '../../../core/lowbit/quantize-weight-gptq.js';
import { quantizeTapsBlockedGptq, tapsGptqApplies } from './conv-taps-gptq.js';
import { channelsGptqApplies, patchesSuffice, quantizeChannelsBlockedGptq } from './conv-channels-gptq.js';

/** A weight quantized per block along one axis, in the layout blocked DequantizeLinear reads. */
export interface BlockedWeight {
  /** One code per weight element, in the weight's own dims order; within the dtype's range (int3: −4..3). */
  readonly codes: Int8Array | Uint8Array;
  /** The weight's dims with the blocked axis divided (rounded up) by the block size; per channel (perChannel): [dims[axis]], per-axis DequantizeLinear's shape. */
  readonly paramShape: readonly number[];
  readonly scale: Float32Array;
  /** Same storage as codes. */
  readonly zeroPoint: Int8Array | Uint8Array;
  /** AWQ only: each input channel (the blocked axis) was multiplied by this; the op's input must be divided by it. */
  readonly inputScale?: Float32Array;
  /** The method that chose the codes ('rtn' where a method had no data for this weight and fell back, see why). */
  readonly method: WeightMethod;
  readonly fallback?: string;
}

export interface BlockedWeightOptions {
  readonly dtype: BlockDtype;
  readonly symmetric: boolean;
  readonly blockSize: number;
  readonly method: WeightMethod;
  readonly damp: number;
  readonly actOrder: boolean;
  /** GPTQ with the calibration's drift (LayerStats.drift): the weight of the float model's output in its objective (GptqOptions.floatShare). */
  readonly floatShare?: number;
  /** AWQ: the per-input-channel scales to apply instead of searching them (see RowsMethodOptions.awqScale). */
  readonly awqScale?: Float32Array;
  /** One block per index of `axis` (axis 0) holding every other index: per-axis DequantizeLinear (a depthwise Conv per output channel, see convPerChannel); blockSize is then unused. */
  readonly perChannel?: boolean;
  /** The blocks run along a Conv's kernel taps (convTapsBlockAxis), not its input channels: AWQ scales multiply the weight by input channel first. */
  readonly kernelTaps?: boolean;
}

/** The weight as a 2-D [rows, cols] matrix whose cols run along `axis` (rows: every other index, in order). */
export function toRows(values: Float32Array, dims: readonly number[], axis: number): { rows: number; cols: number; matrix: Float32Array } {
  const cols = dims[axis]!;
  const pre = dims.slice(0, axis).reduce((a, d) => a * d, 1);
  const post = dims.slice(axis + 1).reduce((a, d) => a * d, 1);
  const matrix = new Float32Array(values.length);
  for (let p = 0; p < pre; p++) {
    for (let c = 0; c < cols; c++) {
      const src = (p * cols + c) * post;
      for (let q = 0; q < post; q++) matrix[(p * post + q) * cols + c] = values[src + q]!;
    }
  }
  return { rows: pre * post, cols, matrix };
}

/** The inverse of toRows for an array of `cols` values per row (codes: cols = dims[axis]; block parameters: cols = blocks). */
export function fromRows<T extends Float32Array | Int8Array | Uint8Array>(matrix: ArrayLike<number>, dims: readonly number[], axis: number, cols: number, out: T): T {
  const pre = dims.slice(0, axis).reduce((a, d) => a * d, 1);
  const post = dims.slice(axis + 1).reduce((a, d) => a * d, 1);
  for (let p = 0; p < pre; p++) {
    for (let c = 0; c < cols; c++) {
      const dst = (p * cols + c) * post;
      for (let q = 0; q < post; q++) out[dst + q] = matrix[(p * post + q) * cols + c]!;
    }
  }
  return out;
}

/** True for the signed block dtypes (all but uint4). */
export const signedDtype = (d: BlockDtype): boolean => d !== 'uint4';
/** Bits per code of a block dtype. */
export const bitsOf = (d: BlockDtype): number => (d === 'int2' ? 2 : d === 'int3' ? 3 : 4);

/**
 * Quantizes a float weight per block of `blockSize` along `axis` (the op's reduction axis) with the
 * chosen method. 'rtn' is exactly what weight-only mode always wrote (computeQParams per block,
 * narrow range when symmetric and signed). The other methods see the weight as [rows, cols] with
 * cols along `axis` (a Conv weight [M, C, kh, kw] blocked along C is (m, kh, kw) rows of C inputs;
 * under gptq with the Conv's patch Hessian in `stats`, one row of C·kh·kw inputs per output
 * channel instead: quantizeChannelsBlockedGptq), and `stats` holds the calibration statistics of the op's input channels (per group for a grouped
 * Conv: `groups` row ranges each see their own statistics). Without stats, gptq and awq fall back
 * to the calibration-free search and say so.
 */
export function quantizeBlockedWeight(values: Float32Array, dims: readonly number[], axis: number, options: BlockedWeightOptions, stats?: readonly LayerStats[]): BlockedWeight {
  if (options.perChannel) return quantizePerChannel(values, dims, axis, options, stats);
  const { dtype, symmetric, blockSize } = options;
  if (options.method === 'rtn') {
    const granularity = { kind: 'per-block', axis, blockSize } as const;
    const params = computeQParams(values, dims, { dtype: dtype as QuantDtypeName, symmetric, narrow: symmetric && signedDtype(dtype), granularity });
    const { codes } = quantize(values, dims, { params, validate: false });
    const zp = signedDtype(dtype) ? Int8Array.from(params.zeroPoint) : Uint8Array.from(params.zeroPoint);
    return { codes: codes as Int8Array | Uint8Array, paramShape: params.paramShape, scale: params.scale, zeroPoint: zp, method: 'rtn' };
  }
  // Blocks along a Conv's kernel taps (convTapsBlockAxis): AWQ's per-input-channel scales multiply the weight before its codes are chosen, as for per-channel weights.
  const tapsBlocked = options.kernelTaps === true;
  const patches = tapsBlocked && options.method === 'gptq' ? tapsPatchHessians(dims, stats) : undefined;
  if (patches && tapsGptqApplies(dims, axis, blockSize)) {
    const r = quantizeTapsBlockedGptq(values, dims, axis, patches, { bits: bitsOf(dtype), signed: signedDtype(dtype), symmetric, blockSize, damp: options.damp, actOrder: options.actOrder, ...floatShareOf(options) }, patchDrifts(stats));
    return { ...r, method: 'gptq' };
  }
  // A Conv blocked along its input channels: GPTQ under the patch Hessian, calibrated where channelsGptqApplies (needsPatchHessian).
  // Too few patches for the patch Hessian's columns (patchesSuffice): the per-channel Hessian, estimated from the same positions over far fewer columns.
  const enoughPatches = stats !== undefined && patchesSuffice(stats.map((s) => s.patchHessian?.samples ?? 0), values.length / dims[0]!);
  const channelPatches = !tapsBlocked && options.method === 'gptq' && axis === 1 && channelsGptqApplies(dims, blockSize) && enoughPatches ? tapsPatchHessians(dims, stats) : undefined;
  if (channelPatches) {
    const r = quantizeChannelsBlockedGptq(values, dims, channelPatches, { bits: bitsOf(dtype), signed: signedDtype(dtype), symmetric, blockSize, damp: options.damp, actOrder: options.actOrder, ...floatShareOf(options) }, patchDrifts(stats));
    return { ...r, method: 'gptq' };
  }
  const input = tapsBlocked && options.awqScale ? scaleInputChannels(values, dims, options.awqScale) : values;
  const { rows, cols, matrix } = toRows(input, dims, axis);
  const nBlocks = Math.ceil(cols / blockSize);
  const r = quantizeRowsWithMethod(matrix, rows, cols, { bits: bitsOf(dtype), signed: signedDtype(dtype), symmetric, blockSize, method: options.method, damp: options.damp, actOrder: options.actOrder, ...floatShareOf(options), ...(options.awqScale && !tapsBlocked && { awqScale: options.awqScale }) }, stats);
  const Codes = signedDtype(dtype) ? Int8Array : Uint8Array;
  const paramShape = dims.map((d, i) => (i === axis ? nBlocks : d));
  const paramCount = paramShape.reduce((a, d) => a * d, 1);
  return {
    codes: fromRows(r.codes, dims, axis, cols, new Codes(values.length)),
    paramShape,
    scale: fromRows(r.scales, dims, axis, nBlocks, new Float32Array(paramCount)),
    zeroPoint: fromRows(r.zeroPoints, dims, axis, nBlocks, new Codes(paramCount)),
    ...(tapsBlocked && options.awqScale ? { inputScale: options.awqScale } : r.inputScale && { inputScale: r.inputScale }),
    method: r.method,
    ...(r.fallback && { fallback: r.fallback }),
  };
}

const floatShareOf = (o: BlockedWeightOptions): { floatShare?: number } => (o.floatShare === undefined ? {} : { floatShare: o.floatShare });

/** The per-group drifts over the patch Hessians' columns (LayerStats.patchDrift), where calibration kept them (GPTQ fitted to the float model). */
function patchDrifts(stats?: readonly LayerStats[]): Float64Array[] | undefined {
  return stats?.every((s) => s.patchDrift) ? stats.map((s) => s.patchDrift!.drift()) : undefined;
}

/**
 * The per-group patch Hessians of a Conv weight [M, C/group, k...] (LayerStats.patchHessian, over a
 * filter's C/group · taps columns), or undefined when a group has none or saw no input.
 */
function tapsPatchHessians(dims: readonly number[], stats?: readonly LayerStats[]): Float64Array[] | undefined {
  const cols = dims.slice(1).reduce((a, d) => a * d, 1);
  if (!stats || stats.length === 0 || dims[0]! % stats.length !== 0) return undefined;
  if (!stats.every((s) => s.rows > 0 && s.patchHessian?.cols === cols && s.patchHessian.samples > 0)) return undefined;
  return stats.map((s) => s.patchHessian!.hessian());
}

const PER_CHANNEL_FALLBACK =
  "a per-output-channel weight (a Conv with few input channels per group, e.g. depthwise) has one calibration statistic per input channel, shared by a filter's taps: a depthwise filter's Hessian is then one number, under which GPTQ is round-to-nearest, and AWQ's input scale folds into the filter's own scale; chosen by search weighted by mean x² instead";

/**
 * One scale (and zero point) per index of axis 0 over all the other axes: W [M, ...] as M rows of
 * every other element, one block per row. rtn is computeQParams per axis (what per-axis
 * DequantizeLinear's writer computes); hqq and search work on the rows; gptq runs per group on the
 * group's patch Hessian (over the row's (channel, tap) columns, LayerStats.patchHessian) with one
 * block spanning the row; awq, and gptq without patch Hessians, become search (PER_CHANNEL_FALLBACK
 * says why), weighted by each group's mean x² repeated over the taps.
 */
function quantizePerChannel(values: Float32Array, dims: readonly number[], axis: number, options: BlockedWeightOptions, stats?: readonly LayerStats[]): BlockedWeight {
  if (axis !== 0) throw new Error(`per-channel low-bit weights are grouped along axis 0, got axis ${axis}`);
  const { dtype, symmetric } = options;
  const signed = signedDtype(dtype);
  const Codes = signed ? Int8Array : Uint8Array;
  const rows = dims[0]!;
  const cols = values.length / rows;
  if (options.awqScale) values = scaleInputChannels(values, dims, options.awqScale);
  if (options.method === 'rtn') {
    const params = computeQParams(values, dims, { dtype: dtype as QuantDtypeName, symmetric, narrow: symmetric && signed, granularity: { kind: 'per-axis', axis: 0 } });
    const { codes } = quantize(values, dims, { params, validate: false });
    return { codes: Codes.from(codes), paramShape: [rows], scale: params.scale, zeroPoint: Codes.from(params.zeroPoint), method: 'rtn' };
  }
  const base = { bits: bitsOf(dtype), blockSize: cols, symmetric, signed };
  const codes = new Codes(values.length);
  const scale = new Float32Array(rows);
  const zeroPoint = new Codes(rows);
  const patches = options.method === 'gptq' && stats && stats.length > 0 && rows % stats.length === 0 && stats.every((s) => s.rows > 0 && s.patchHessian?.cols === cols && s.patchHessian.samples > 0);
  if (patches) {
    const groupRows = rows / stats.length;
    stats.forEach((st, g) => {
      const part = values.subarray(g * groupRows * cols, (g + 1) * groupRows * cols);
      const r = quantizeWeightGptq(part, [groupRows, cols], st.patchHessian!.hessian(), { ...base, damp: options.damp, actOrder: options.actOrder, ...(st.patchDrift && { drift: st.patchDrift.drift(), ...floatShareOf(options) }) });
      codes.set(r.codes, g * groupRows * cols);
      scale.set(r.scales, g * groupRows);
      zeroPoint.set(r.zeroPoints, g * groupRows);
    });
    return { codes, paramShape: [rows], scale, zeroPoint, method: 'gptq' };
  }
  const usable = options.method !== 'hqq' && stats && stats.length > 0 && stats.every((s) => s.rows > 0) && rows % stats.length === 0 && cols % stats[0]!.cols === 0;
  const groups = usable ? stats!.length : 1;
  const groupRows = rows / groups;
  for (let g = 0; g < groups; g++) {
    const part = values.subarray(g * groupRows * cols, (g + 1) * groupRows * cols);
    let importance: Float32Array | undefined;
    if (usable) {
      // Columns of a row run (input channel, tap...) in the weight's order: channel c's mean x² weighs its taps.
      const ms = meanSquare(stats![g]!);
      const taps = cols / ms.length;
      importance = Float32Array.from({ length: cols }, (_, j) => ms[Math.floor(j / taps)]!);
    }
    const r = options.method === 'hqq' ? hqqQuantize(part, [groupRows, cols], { ...base, optimizeScale: true }) : searchQuantize(part, [groupRows, cols], { ...base, ...(importance && { importance }) });
    codes.set(r.codes, g * groupRows * cols);
    scale.set(r.scales, g * groupRows);
    zeroPoint.set(r.zeroPoints, g * groupRows);
  }
  const fellBack = options.method === 'gptq' || options.method === 'awq';
  // GPTQ falls back here when no batch reached the layer (a branch no batch takes), rarely for want of the patch Hessian.
  const why = options.method === 'gptq' && !(stats ?? []).some((s) => s.rows > 0) ? NO_DATA : PER_CHANNEL_FALLBACK;
  return { codes, paramShape: [rows], scale, zeroPoint, method: fellBack ? 'search' : options.method, ...(fellBack && { fallback: why }), ...(options.awqScale && { inputScale: options.awqScale }) };
}

/**
 * (q − zeroPoint) · scale of a BlockedWeight, in the weight's dims order (float32, as DequantizeLinear
 * computes it). A paramShape of [dims[axis]] on a weight of higher rank is per channel along `axis`
 * (blockSize unused).
 */
export function dequantizeBlocked(w: BlockedWeight, dims: readonly number[], axis: number, blockSize: number | undefined): Float32Array {
  const out = new Float32Array(w.codes.length);
  if (w.paramShape.length !== dims.length) {
    const post = dims.slice(axis + 1).reduce((a, d) => a * d, 1);
    for (let i = 0; i < out.length; i++) {
      const k = Math.floor(i / post) % dims[axis]!;
      out[i] = Math.fround((w.codes[i]! - w.zeroPoint[k]!) * w.scale[k]!);
    }
    return out;
  }
  if (blockSize === undefined) throw new Error('a blocked weight needs its block size');
  const cols = dims[axis]!;
  const nBlocks = w.paramShape[axis]!;
  const post = dims.slice(axis + 1).reduce((a, d) => a * d, 1);
  for (let i = 0; i < out.length; i++) {
    const q = i % post;
    const c = Math.floor(i / post) % cols;
    const p = Math.floor(i / (post * cols));
    const k = (p * nBlocks + Math.floor(c / blockSize)) * post + q;
    out[i] = Math.fround((w.codes[i]! - w.zeroPoint[k]!) * w.scale[k]!);
  }
  return out;
}

/**
 * W·diag(s) along a Conv weight's input channels: AWQ divided the layer's input by s (folded into
 * the ops producing it), so the weight takes s before its codes are chosen. `s` runs over every
 * input channel of the op (groups × dims[1]); output channel r belongs to group r / (rows / groups).
 */
function scaleInputChannels(values: Float32Array, dims: readonly number[], s: Float32Array): Float32Array {
  const rows = dims[0]!;
  const perGroup = dims[1]!;
  const cols = values.length / rows;
  const taps = cols / perGroup;
  const groups = s.length / perGroup;
  if (!Number.isInteger(groups) || rows % groups !== 0) throw new Error(`AWQ scales of ${s.length} channels do not fit a weight of dims [${dims.join(', ')}]`);
  const rowsPerGroup = rows / groups;
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    const base = Math.floor(r / rowsPerGroup) * perGroup;
    for (let j = 0; j < cols; j++) out[r * cols + j] = values[r * cols + j]! * s[base + Math.floor(j / taps)]!;
  }
  return out;
}
