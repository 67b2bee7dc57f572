import type { GptqOptions } from '../../../core/lowbit/quantize-weight-gptq.js';
import type { TapsBlockedCodes } from './conv-taps-gptq.js';
import { quantizeTapsBlockedGptq } from './conv-taps-gptq.js';

/**
 * The widest patch Hessian (C/group · taps columns) GPTQ on a channel-blocked Conv is given. Both
 * costs grow fast with it: folding HESSIAN_ROWS patches of a batch in is rows·cols²/2 multiply-adds
 * and GPTQ's factorisation cols³/3. Measured on one core of an AMD EPYC (wasm kernels), 4096
 * patches then GPTQ of the [M, cols] weight: 1152 columns (128 × 3×3) 0.6 s + 0.3 s, 2304
 * (256 × 3×3) 2.6 s + 1.1 s, 4608 (512 × 3×3) 11 s + 10 s per layer, with 170 MB per float64
 * Hessian (calibration holds two). 2304 keeps a layer's cost within seconds and its Hessian at
 * 42 MB; wider layers keep the per-input-channel Hessian (each tap its own row of C inputs).
 */
export const PATCH_GPTQ_MAX_COLS = 2304;

/**
 * Patches per column the patch Hessian must have been estimated from for quantizeChannelsBlockedGptq
 * to be used (patchesSuffice). GPTQ fits its error feedback to the calibration patches: from fewer
 * patches than a few per column the Hessian is rank-deficient or noisy and the feedback fits the
 * noise (a layer deep inside a U-Net sees 8 × 8 positions a photo: 3 photos give 192 patches for
 * 1152 columns). On synthetic smooth images of 200 components, GPTQ under the patch Hessian beat
 * round-to-nearest on held-out images only from about 4 patches per column.
 */
export const PATCHES_PER_COLUMN = 4;

/** True when every group's patch Hessian saw at least PATCHES_PER_COLUMN patches per column. */
export function patchesSuffice(samples: readonly number[], cols: number): boolean {
  return samples.every((n) => n >= PATCHES_PER_COLUMN * cols);
}

/**
 * True when GPTQ on a Conv weight [M, C/group, k...] blocked along its input channels (axis 1,
 * blocks of `blockSize`) runs under the patch Hessian (quantizeChannelsBlockedGptq): the blocks of
 * one (m, tap) tile the C channels exactly (C a multiple of blockSize, or C ≤ blockSize: one block),
 * so the tap-major columns split into equal runs, one per ONNX block; the kernel has more than one
 * tap; and the patch Hessian has at most PATCH_GPTQ_MAX_COLS columns. Otherwise GPTQ reads the per-input-channel Hessian, every
 * (m, tap) a row of its own.
 */
export function channelsGptqApplies(dims: readonly number[], blockSize: number): boolean {
  if (dims.length < 3) return false;
  const c = dims[1]!;
  const taps = dims.slice(2).reduce((a, d) => a * d, 1);
  // A one-tap kernel (1×1) has no neighbouring taps: its patch Hessian is the per-channel one.
  return taps > 1 && (c % blockSize === 0 || c <= blockSize) && c * taps <= PATCH_GPTQ_MAX_COLS;
}

/**
 * GPTQ on a Conv weight [M, C/group, k...] blocked along its input channels, as the GPTQ
 * reference quantizes a Conv2d: W.flatten(1), [M, C·taps], under the Hessian of the im2col patches
 * (addConvPatches), so the rounding error of one tap is fed back into its neighbours', whose inputs
 * are neighbouring pixels and strongly correlated. The per-input-channel Hessian sees each tap as a
 * separate row and cannot. The columns run tap-major (tap·C + c, the patch Hessian permuted alike):
 * each ONNX block, `blockSize` channels of one (m, tap), is a run of consecutive columns, and with
 * actOrder every column keeps its block, whose grid is fixed up front (quantizeWeightGptq).
 * `hessians[g]` is group g's patch Hessian in the weight's own (channel, tap) order. Needs
 * channelsGptqApplies; the result is in blocked DequantizeLinear's layout along axis 1. `drifts[g]`:
 * group g's drift over the same columns (GPTQ fitted to the float model, GptqOptions.drift).
 */
export function quantizeChannelsBlockedGptq(values: Float32Array, dims: readonly number[], hessians: readonly Float64Array[], opts: GptqOptions, drifts?: readonly Float64Array[]): TapsBlockedCodes {
  return quantizeTapsBlockedGptq(values, dims, 1, hessians, opts, drifts);
}
