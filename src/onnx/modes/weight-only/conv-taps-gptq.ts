import type { GptqOptions } from '../../../core/lowbit/quantize-weight-gptq.js';
import { quantizeWeightGptq } from '../../../core/lowbit/quantize-weight-gptq.js';

/** Codes in the weight's dims order and block parameters in paramShape's row-major order (what BlockedWeight holds). */
export interface TapsBlockedCodes {
  readonly codes: Int8Array | Uint8Array;
  readonly paramShape: readonly number[];
  readonly scale: Float32Array;
  readonly zeroPoint: Int8Array | Uint8Array;
}

/**
 * The order GPTQ visits a filter's (channel, tap...) columns in: the blocked kernel axis innermost,
 * so that every block of `blockSize` taps is a run of consecutive columns. perm[n] is the column,
 * in the weight's own row-major (channel, k...) order, placed n-th. Identity when the blocked axis
 * is already the last.
 */
export function tapsColumnOrder(dims: readonly number[], axis: number): Int32Array {
  const inner = dims.slice(1);
  const cols = inner.reduce((a, d) => a * d, 1);
  const a = axis - 1;
  const stride = inner.slice(a + 1).reduce((x, d) => x * d, 1);
  const k = inner[a]!;
  const perm = new Int32Array(cols);
  let n = 0;
  // Every column index with the blocked axis' coordinate 0, in row-major order, then along the axis.
  for (let j = 0; j < cols; j++) {
    if (Math.floor(j / stride) % k !== 0) continue;
    for (let t = 0; t < k; t++) perm[n++] = j + t * stride;
  }
  return perm;
}

/**
 * True when GPTQ can run on a Conv weight [M, C/group, k...] blocked along kernel axis `axis`
 * (convTapsBlockAxis) as one matrix per group: the blocks must tile the axis exactly, else the
 * blocks of a filter's columns are not all `blockSize` long and no [rows, cols] grid holds them.
 */
export function tapsGptqApplies(dims: readonly number[], axis: number, blockSize: number): boolean {
  return dims.length >= 3 && axis >= 2 && axis < dims.length && dims[axis]! % blockSize === 0;
}

/**
 * GPTQ on a Conv weight [M, C/group, k...] blocked along kernel axis `axis` (a filter bank such as
 * an STFT front end, [258, 1, 256] in blocks of 32 taps). Output channel m's output is
 * Σ_(c, k) W[m, c, k]·patch[c, k] over the im2col patches of the input, so its Hessian over a
 * filter's (channel, tap) columns is the patches' 2/N·Σ patchᵀ·patch (addConvPatches, one per group);
 * with the blocked axis moved innermost (tapsColumnOrder, the Hessian permuted alike) each block of
 * taps is a run of `blockSize` columns, and this is MatMul-style GPTQ on the [M/groups, C/group·taps]
 * matrix of each group. Neighbouring audio samples (or pixels) are strongly correlated, so the
 * patch Hessian is far from diagonal and the error feedback across taps is where GPTQ gains over
 * rounding. `hessians[g]` is group g's, [cols, cols] with cols = C/group·taps in the weight's own
 * (channel, k...) order; needs tapsGptqApplies. `drifts[g]`, where given, is group g's drift in
 * the same order (GPTQ fitted to the float model, GptqOptions.drift), permuted alike.
 *
 * `axis` 1 (the input channels, see quantizeChannelsBlockedGptq) moves the channels innermost: the
 * columns run tap-major, tap·C + c. An axis no longer than `blockSize` is one block of its whole
 * length (blocked DequantizeLinear's ceil(d / blockSize) = 1 block per index of the other axes).
 */
export function quantizeTapsBlockedGptq(values: Float32Array, dims: readonly number[], axis: number, hessians: readonly Float64Array[], opts: GptqOptions, drifts?: readonly Float64Array[]): TapsBlockedCodes {
  const rows = dims[0]!;
  const cols = values.length / rows;
  const groups = hessians.length;
  const groupRows = rows / groups;
  const { blockSize } = opts;
  const perm = tapsColumnOrder(dims, axis);
  // GPTQ's block: the ONNX block, or the whole axis where it is shorter than one.
  const run = Math.min(blockSize, dims[axis]!);
  const perAxis = Math.ceil(dims[axis]! / blockSize);
  const blocksPerRow = cols / run;
  const paramShape = dims.map((d, i) => (i === axis ? perAxis : d));
  const stride = dims.slice(axis + 1).reduce((a, d) => a * d, 1);
  const Codes = opts.signed === false ? Uint8Array : Int8Array;
  const codes = new Codes(values.length);
  const scale = new Float32Array(rows * blocksPerRow);
  const zeroPoint = new Codes(rows * blocksPerRow);
  // The parameter index, within a row, of the block starting at permuted column b·run: that column's index with the axis coordinate divided by blockSize.
  const paramOfBlock = new Int32Array(blocksPerRow);
  for (let b = 0; b < blocksPerRow; b++) {
    const j = perm[b * run]!;
    const t = Math.floor(j / stride) % dims[axis]!;
    const outer = Math.floor(j / (stride * dims[axis]!));
    paramOfBlock[b] = (outer * perAxis + Math.floor(t / blockSize)) * stride + (j % stride);
  }
  const w = new Float32Array(groupRows * cols);
  const h = new Float64Array(cols * cols);
  const drift = drifts && new Float64Array(cols * cols);
  for (let g = 0; g < groups; g++) {
    const src = hessians[g]!;
    for (let p = 0; p < cols; p++) for (let q = 0; q < cols; q++) h[p * cols + q] = src[perm[p]! * cols + perm[q]!]!;
    if (drift) {
      const d = drifts![g]!;
      for (let p = 0; p < cols; p++) for (let q = 0; q < cols; q++) drift[p * cols + q] = d[perm[p]! * cols + perm[q]!]!;
    }
    for (let r = 0; r < groupRows; r++) {
      const o = (g * groupRows + r) * cols;
      for (let n = 0; n < cols; n++) w[r * cols + n] = values[o + perm[n]!]!;
    }
    const res = quantizeWeightGptq(w, [groupRows, cols], h, { ...opts, blockSize: run, ...(drift && { drift }) });
    for (let r = 0; r < groupRows; r++) {
      const row = g * groupRows + r;
      for (let n = 0; n < cols; n++) codes[row * cols + perm[n]!] = res.codes[r * cols + n]!;
      for (let b = 0; b < blocksPerRow; b++) {
        scale[row * blocksPerRow + paramOfBlock[b]!] = res.scales[r * blocksPerRow + b]!;
        zeroPoint[row * blocksPerRow + paramOfBlock[b]!] = res.zeroPoints[r * blocksPerRow + b]!;
      }
    }
  }
  return { codes, paramShape, scale, zeroPoint };
}
