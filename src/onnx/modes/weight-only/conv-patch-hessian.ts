import type { NodeProto } from 'onnx-buf';
import type { WeightScheme } from './weight-scheme.js';
import { QuantError } from '../../../core/errors.js';
import type { DriftAccumulator } from '../../../core/lowbit/drift-accumulator.js';
import type { HessianAccumulator } from '../../../core/lowbit/hessian-accumulator.js';
import { intsAttribute, stringAttribute } from '../../../formats/onnx/attributes.js';
import { channelsGptqApplies } from './conv-channels-gptq.js';
import { HESSIAN_ROWS, stratifiedRows } from './layer-stats.js';

/** How a Conv slides its kernel over the input's spatial axes (one entry per spatial axis). */
export interface ConvGeometry {
  readonly kernel: readonly number[];
  readonly strides: readonly number[];
  /** Begin pads per axis; with autoPad they are computed from the input's size instead. */
  readonly padsBegin: readonly number[];
  readonly padsEnd: readonly number[];
  readonly dilations: readonly number[];
  readonly autoPad: 'NOTSET' | 'VALID' | 'SAME_UPPER' | 'SAME_LOWER';
}

/** The geometry of a Conv node whose weight has dims [M, C/group, k...]. */
export function convGeometry(node: NodeProto, weightDims: readonly number[]): ConvGeometry {
  const kernel = weightDims.slice(2);
  const n = kernel.length;
  const ints = (name: string, fill: number, len = n): number[] => {
    const v = intsAttribute(node, name);
    return v && v.length === len ? v.map(Number) : new Array<number>(len).fill(fill);
  };
  const pads = ints('pads', 0, 2 * n);
  const autoPad = (stringAttribute(node, 'auto_pad') ?? 'NOTSET') as ConvGeometry['autoPad'];
  return { kernel, strides: ints('strides', 1), padsBegin: pads.slice(0, n), padsEnd: pads.slice(n), dilations: ints('dilations', 1), autoPad };
}

/** Begin pads and output size per spatial axis of `geometry` over an input of spatial dims `size` (ONNX Conv's rules, auto_pad included). */
function outputShape(g: ConvGeometry, size: readonly number[]): { begin: number[]; out: number[] } {
  const begin: number[] = [];
  const out: number[] = [];
  g.kernel.forEach((k, a) => {
    const s = g.strides[a]!;
    const span = (k - 1) * g.dilations[a]! + 1;
    if (g.autoPad === 'SAME_UPPER' || g.autoPad === 'SAME_LOWER') {
      const o = Math.ceil(size[a]! / s);
      const total = Math.max(0, (o - 1) * s + span - size[a]!);
      begin.push(g.autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2));
      out.push(o);
    } else {
      const [b, e] = g.autoPad === 'VALID' ? [0, 0] : [g.padsBegin[a]!, g.padsEnd[a]!];
      begin.push(b);
      out.push(Math.floor((size[a]! + b + e - span) / s) + 1);
    }
  });
  return { begin, out };
}

/** Patches folded into the accumulator at once: bounds the scratch to PATCH_ROWS · cols floats whatever the activation's size. */
const PATCH_ROWS = 2048;

/**
 * Folds the im2col patches of one group of a Conv input x [N, C, spatial...] into `acc`: for every
 * batch item and output position, the `channels` input channels from `start` under the kernel
 * window, channel-major then taps in row-major kernel order (the order W[m, c, k...] flattens in),
 * zeros where the window reaches into the padding. acc.cols must be channels · taps; its Hessian is
 * then the per-(channel, tap) Hessian 2/N·Σ patchᵀ·patch of that group's per-output-channel weights.
 * Past `maxRows` patches in the batch (N · output positions; every patch by default), a stratified
 * sample of `maxRows` of them (stratifiedRows, seeded by the patches already folded in; see
 * patchRowsBound). `drift`: the float model's input, whose patches at the same positions are
 * folded into `drift.acc` with these (the drift of GPTQ fitted to the float model).
 */
export function addConvPatches(acc: HessianAccumulator, x: Float32Array, dims: readonly number[], g: ConvGeometry, start: number, channels: number, maxRows = Infinity, drift?: { readonly acc: DriftAccumulator; readonly float: Float32Array }): void {
  const nd = g.kernel.length;
  if (dims.length !== nd + 2) throw new QuantError('SHAPE_MISMATCH', `a Conv input of dims [${dims.join(', ')}] does not have the ${nd} spatial axes of its kernel`);
  const taps = g.kernel.reduce((a, d) => a * d, 1);
  const cols = channels * taps;
  if (acc.cols !== cols) throw new QuantError('SHAPE_MISMATCH', `a Hessian of ${acc.cols} columns cannot take patches of ${channels} channels × ${taps} taps`);
  const size = dims.slice(2);
  const { begin, out } = outputShape(g, size);
  if (out.some((o) => o <= 0)) return;
  const positions = out.reduce((a, d) => a * d, 1);
  const plane = size.reduce((a, d) => a * d, 1);
  const c = dims[1]!;
  // Per tap: its offset along every spatial axis (kernel index · dilation), row-major over the kernel.
  const tapOffset: number[][] = [];
  for (let t = 0; t < taps; t++) {
    const off: number[] = new Array<number>(nd);
    for (let a = nd - 1, r = t; a >= 0; a--) {
      off[a] = (r % g.kernel[a]!) * g.dilations[a]!;
      r = Math.floor(r / g.kernel[a]!);
    }
    tapOffset.push(off);
  }
  const spatialStride: number[] = new Array<number>(nd);
  for (let a = nd - 1, s = 1; a >= 0; a--) {
    spatialStride[a] = s;
    s *= size[a]!;
  }
  if (drift && (drift.acc.cols !== cols || drift.float.length !== x.length)) throw new QuantError('SHAPE_MISMATCH', `the drift of ${cols} patch columns needs the float model's input of ${x.length} values, got ${drift.float.length} values for ${drift.acc.cols} columns`);
  const buf = new Float32Array(PATCH_ROWS * cols);
  const floatBuf = drift && new Float32Array(PATCH_ROWS * cols);
  const origin: number[] = new Array<number>(nd);
  // Input offset of every tap for the current output position, or −1 in the padding.
  const tapAt = new Int32Array(taps);
  let fill = 0;
  const total = dims[0]! * positions;
  const picks = total > maxRows ? stratifiedRows(total, maxRows, acc.samples) : undefined;
  const count = picks ? picks.length : total;
  for (let n = 0; n < count; n++) {
    const at = picks ? picks[n]! : n;
    const b = Math.floor(at / positions);
    const p = at - b * positions;
    for (let a = nd - 1, r = p; a >= 0; a--) {
      origin[a] = (r % out[a]!) * g.strides[a]! - begin[a]!;
      r = Math.floor(r / out[a]!);
    }
    for (let t = 0; t < taps; t++) {
      let off = 0;
      for (let a = 0; a < nd; a++) {
        const i = origin[a]! + tapOffset[t]![a]!;
        if (i < 0 || i >= size[a]!) {
          off = -1;
          break;
        }
        off += i * spatialStride[a]!;
      }
      tapAt[t] = off;
    }
    const row = fill * cols;
    for (let k = 0; k < channels; k++) {
      const base = (b * c + start + k) * plane;
      for (let t = 0; t < taps; t++) buf[row + k * taps + t] = tapAt[t]! < 0 ? 0 : x[base + tapAt[t]!]!;
      if (floatBuf) for (let t = 0; t < taps; t++) floatBuf[row + k * taps + t] = tapAt[t]! < 0 ? 0 : drift!.float[base + tapAt[t]!]!;
    }
    if (++fill === PATCH_ROWS) {
      acc.add(buf, fill);
      drift?.acc.add(buf, floatBuf!, fill);
      fill = 0;
    }
  }
  if (fill) {
    acc.add(buf.subarray(0, fill * cols), fill);
    drift?.acc.add(buf.subarray(0, fill * cols), floatBuf!.subarray(0, fill * cols), fill);
  }
}

/**
 * True when a layer's weight is a Conv weight quantized per output channel (per-axis along axis 0,
 * see convPerChannel) or in blocks along a kernel axis (per-block along axis 2 or later, see
 * convTapsBlockAxis): GPTQ on it needs the Hessian over its (channel, tap) columns, the patches'
 * Hessian, not the per-input-channel one (a depthwise filter's would be one number; a one-channel
 * filter bank's, one number for all its taps). Given the weight's `dims`, also a Conv weight blocked
 * along its input channels where channelsGptqApplies: GPTQ then feeds one tap's rounding error into
 * its neighbours' (quantizeChannelsBlockedGptq).
 */
export function needsPatchHessian(node: NodeProto, scheme: WeightScheme, dims?: readonly number[]): boolean {
  if (node.opType !== 'Conv' || scheme.form !== 'dequantize-linear') return false;
  const g = scheme.granularity;
  if (g.kind === 'per-block' && g.axis === 1) return dims !== undefined && channelsGptqApplies(dims, g.blockSize);
  return (g.kind === 'per-axis' && g.axis === 0) || (g.kind === 'per-block' && g.axis >= 2);
}

/**
 * The patches per batch addConvPatches folds into a Conv weight's patch Hessian at most. Blocked
 * along its input channels (channelsGptqApplies): HESSIAN_ROWS, as the per-channel Hessian it
 * replaces, since a 1024 × 1024 image gives a million patches each costing cols²/2 with cols up to
 * PATCH_GPTQ_MAX_COLS. Per output channel or along the taps: every patch, as always: those filters
 * have few input channels (a depthwise 3×3's patch Hessian has 9 columns), the whole sweep is cheap,
 * and a sample would only add variance.
 */
export function patchRowsBound(scheme: WeightScheme): number {
  return scheme.form === 'dequantize-linear' && scheme.granularity.kind === 'per-block' && scheme.granularity.axis === 1 ? HESSIAN_ROWS : Infinity;
}
