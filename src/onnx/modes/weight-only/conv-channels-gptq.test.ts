import { describe, expect, it } from 'vitest';
import { makeNode } from '../../../formats/onnx/builders.js';
import { quantizeWeightGptq } from '../../../core/lowbit/quantize-weight-gptq.js';
import type { BlockedWeightOptions } from './blocked-weight.js';
import { dequantizeBlocked, quantizeBlockedWeight } from './blocked-weight.js';
import { channelsGptqApplies, PATCH_GPTQ_MAX_COLS, PATCHES_PER_COLUMN } from './conv-channels-gptq.js';
import { addConvPatches, convGeometry, needsPatchHessian } from './conv-patch-hessian.js';
import type { LayerStats } from './layer-stats.js';
import { addRows, channelRows, createLayerStats } from './layer-stats.js';

/** A seeded LCG in [−1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

const weights = (n: number, seed: number): Float32Array => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r());
};

/**
 * An image batch x [n, channels, size, size] whose pixels are strongly correlated with their
 * neighbours, as natural images and the feature maps computed from them are: per image, a few
 * smooth waves of random amplitude and phase (frequencies and channel mixing fixed: one
 * distribution whatever the seed), plus a little noise.
 */
function smoothImages(n: number, channels: number, size: number, seed: number): Float32Array {
  const fixed = rng(1);
  const fields = 6;
  const freq = Array.from({ length: fields }, () => [0.1 + 0.3 * Math.abs(fixed()), 0.1 + 0.3 * Math.abs(fixed())] as const);
  const mix = Array.from({ length: channels * fields }, () => fixed());
  const r = rng(seed);
  const out = new Float32Array(n * channels * size * size);
  for (let b = 0; b < n; b++) {
    const amp = Array.from({ length: fields }, () => r());
    const phase = Array.from({ length: fields }, () => Math.PI * r());
    for (let c = 0; c < channels; c++) {
      for (let h = 0; h < size; h++) {
        for (let w = 0; w < size; w++) {
          let v = 0;
          for (let f = 0; f < fields; f++) v += mix[c * fields + f]! * amp[f]! * Math.sin(freq[f]![0] * h + freq[f]![1] * w + phase[f]!);
          out[((b * channels + c) * size + h) * size + w] = v + 0.05 * r();
        }
      }
    }
  }
  return out;
}

const conv3x3 = (dims: readonly number[], group = 1) => convGeometry(makeNode('Conv', ['x', 'W'], ['y'], { attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group } }), dims);

/** The calibration statistics of a 3×3, pad-1 Conv of weight dims `dims` on x: per group, the per-channel rows and the patches. */
function statsOf(x: Float32Array, xDims: readonly number[], dims: readonly number[], groups = 1): LayerStats[] {
  const c = dims[1]!;
  const taps = dims.slice(2).reduce((a, d) => a * d, 1);
  return Array.from({ length: groups }, (_, g) => {
    const s = createLayerStats(c, true, false, c * taps);
    const r = channelRows(x, xDims, 1, g * c, c);
    addRows(s, r.data, r.rows);
    addConvPatches(s.patchHessian!, x, xDims, conv3x3(dims, groups), g * c, c);
    return s;
  });
}

/** The same statistics without the patch Hessian: what GPTQ read on a channel-blocked Conv before, every (m, tap) a row of C inputs. */
const withoutPatches = (stats: readonly LayerStats[]): LayerStats[] => stats.map(({ patchHessian: _, ...s }) => s);

const options = (blockSize: number, actOrder = false, dtype: BlockedWeightOptions['dtype'] = 'int3'): BlockedWeightOptions => ({ dtype, symmetric: true, blockSize, method: 'gptq', damp: 0.01, actOrder });

/**
 * GPTQ on the explicitly unfolded problem, as the GPTQ reference runs a Conv2d: per group, the
 * [M/groups, C·taps] matrix with column tap·C + c = W[m, c, tap], under the patch Hessian permuted
 * alike, in blocks of min(blockSize, C); the codes put back at W's own index, the parameters at
 * [m, floor(c / blockSize), tap] of blocked DequantizeLinear's [M, ceil(C / blockSize), kh, kw].
 */
function unfoldedGptq(w: Float32Array, dims: readonly number[], stats: readonly LayerStats[], o: BlockedWeightOptions) {
  const [m, c] = [dims[0]!, dims[1]!];
  const taps = dims.slice(2).reduce((a, d) => a * d, 1);
  const cols = c * taps;
  const groupRows = m / stats.length;
  const run = Math.min(o.blockSize, c);
  const perAxis = Math.ceil(c / o.blockSize);
  const codes = new Int8Array(w.length);
  const scale = new Float32Array(m * perAxis * taps);
  const zeroPoint = new Int8Array(m * perAxis * taps);
  stats.forEach((s, g) => {
    const h = s.patchHessian!.hessian();
    const wu = new Float32Array(groupRows * cols);
    for (let r = 0; r < groupRows; r++) for (let t = 0; t < taps; t++) for (let k = 0; k < c; k++) wu[r * cols + t * c + k] = w[(g * groupRows + r) * cols + k * taps + t]!;
    const hu = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) hu[i * cols + j] = h[((i % c) * taps + Math.floor(i / c)) * cols + (j % c) * taps + Math.floor(j / c)]!;
    const ref = quantizeWeightGptq(wu, [groupRows, cols], hu, { bits: 3, signed: true, symmetric: o.symmetric, blockSize: run, damp: o.damp, actOrder: o.actOrder });
    const blocks = cols / run;
    for (let r = 0; r < groupRows; r++) {
      const row = g * groupRows + r;
      for (let t = 0; t < taps; t++) for (let k = 0; k < c; k++) codes[row * cols + k * taps + t] = ref.codes[r * cols + t * c + k]!;
      for (let b = 0; b < blocks; b++) {
        const first = b * run;
        const at = (row * perAxis + Math.floor((first % c) / o.blockSize)) * taps + Math.floor(first / c);
        scale[at] = ref.scales[r * blocks + b]!;
        zeroPoint[at] = ref.zeroPoints[r * blocks + b]!;
      }
    }
  });
  return { codes, scale, zeroPoint, paramShape: [m, perAxis, ...dims.slice(2)] };
}

/** Σ over the patches of `heldOut` (a patch Hessian, 2/N·Σ pᵀp) of the squared output error, per output channel: Σ_m Δw_mᵀ·H·Δw_m. */
function outputError(w: Float32Array, deq: Float32Array, dims: readonly number[], heldOut: readonly LayerStats[]): number {
  const cols = dims.slice(1).reduce((a, d) => a * d, 1);
  const groupRows = dims[0]! / heldOut.length;
  let e = 0;
  heldOut.forEach((s, g) => {
    const h = s.patchHessian!.hessian();
    for (let r = g * groupRows; r < (g + 1) * groupRows; r++) {
      const d = Float64Array.from({ length: cols }, (_, j) => deq[r * cols + j]! - w[r * cols + j]!);
      for (let i = 0; i < cols; i++) {
        let hd = 0;
        for (let j = 0; j < cols; j++) hd += h[i * cols + j]! * d[j]!;
        e += d[i]! * hd;
      }
    }
  });
  return e;
}

describe('channelsGptqApplies and needsPatchHessian on Convs blocked along their input channels', () => {
  const perBlock = (blockSize: number) => ({ form: 'dequantize-linear', dtype: 'int3', symmetric: true, granularity: { kind: 'per-block', axis: 1, blockSize }, domain: '', reduceRange: false }) as const;
  const conv = makeNode('Conv', ['x', 'W'], ['y']);

  it('applies where the blocks tile the channels of a tap (a multiple of the block, or one block) and the patch Hessian is within the cap', () => {
    expect(channelsGptqApplies([16, 64, 3, 3], 32)).toBe(true);
    expect(channelsGptqApplies([16, 3, 3, 3], 32)).toBe(true);
    expect(channelsGptqApplies([16, 48, 3, 3], 32)).toBe(false);
    expect(channelsGptqApplies([16, 256, 3, 3], 32)).toBe(true);
    expect(256 * 9).toBeLessThanOrEqual(PATCH_GPTQ_MAX_COLS);
    expect(512 * 9).toBeGreaterThan(PATCH_GPTQ_MAX_COLS);
    expect(channelsGptqApplies([16, 512, 3, 3], 32)).toBe(false);
    expect(channelsGptqApplies([16, 64], 32)).toBe(false);
    expect(channelsGptqApplies([16, 64, 1, 1], 32)).toBe(false);
  });

  it('asks calibration for the patch Hessian exactly there', () => {
    expect(needsPatchHessian(conv, perBlock(32), [16, 64, 3, 3])).toBe(true);
    expect(needsPatchHessian(conv, perBlock(32), [16, 3, 3, 3])).toBe(true);
    expect(needsPatchHessian(conv, perBlock(32), [16, 48, 3, 3])).toBe(false);
    expect(needsPatchHessian(conv, perBlock(32), [16, 512, 3, 3])).toBe(false);
    expect(needsPatchHessian(conv, perBlock(32))).toBe(false);
    expect(needsPatchHessian(makeNode('ConvTranspose', ['x', 'W'], ['y']), perBlock(32), [16, 64, 3, 3])).toBe(false);
  });
});

describe('gptq on a Conv weight blocked along its input channels, under the patch Hessian', () => {
  // 4 × 24 × 24 = 2304 patches: PATCHES_PER_COLUMN for a 64-channel 3×3 filter's 576 columns.
  const xDims = [4, 64, 24, 24];
  const x = smoothImages(4, 64, 24, 3);

  it.each([false, true])('is matrix GPTQ on the unfolded [M, taps·C] problem, tap-major (64 channels in blocks of 32, actOrder %s)', (actOrder) => {
    const dims = [6, 64, 3, 3];
    const w = weights(6 * 64 * 9, 11);
    const stats = statsOf(x, xDims, dims);
    const got = quantizeBlockedWeight(w, dims, 1, options(32, actOrder), stats);
    const want = unfoldedGptq(w, dims, stats, options(32, actOrder));
    expect(got).toMatchObject({ method: 'gptq', paramShape: [6, 2, 3, 3] });
    expect(got).not.toHaveProperty('fallback');
    expect(Array.from(got.codes)).toEqual(Array.from(want.codes));
    expect(Array.from(got.scale)).toEqual(Array.from(want.scale));
    expect(Array.from(got.zeroPoint)).toEqual(Array.from(want.zeroPoint));
  });

  it('with fewer channels than a block (3 in blocks of 32), runs GPTQ in blocks of the 3 channels of one tap, ONNX\'s one block per (m, tap)', () => {
    const dims = [8, 3, 3, 3];
    const x3 = smoothImages(2, 3, 12, 5);
    const stats = statsOf(x3, [2, 3, 12, 12], dims);
    const w = weights(8 * 27, 13);
    for (const actOrder of [false, true]) {
      const got = quantizeBlockedWeight(w, dims, 1, options(32, actOrder), stats);
      const want = unfoldedGptq(w, dims, stats, options(32, actOrder));
      expect(got).toMatchObject({ method: 'gptq', paramShape: [8, 1, 3, 3] });
      expect(Array.from(got.codes)).toEqual(Array.from(want.codes));
      expect(Array.from(got.scale)).toEqual(Array.from(want.scale));
      // Each block's grid spans its own values: dequantizing with blocked DequantizeLinear's layout reproduces the codes' range.
      const deq = dequantizeBlocked(got, dims, 1, 32);
      expect(deq.every(Number.isFinite)).toBe(true);
    }
  });

  it('runs each group of a grouped Conv on its own group\'s patch Hessian', () => {
    const dims = [8, 32, 3, 3];
    const stats = statsOf(x, xDims, dims, 2);
    const w = weights(8 * 32 * 9, 17);
    const got = quantizeBlockedWeight(w, dims, 1, options(16), stats);
    const want = unfoldedGptq(w, dims, stats, options(16));
    expect(got).toMatchObject({ method: 'gptq', paramShape: [8, 2, 3, 3] });
    expect(Array.from(got.codes)).toEqual(Array.from(want.codes));
    expect(Array.from(got.scale)).toEqual(Array.from(want.scale));
    // The groups read different channels: swapping their statistics changes the codes.
    const swapped = quantizeBlockedWeight(w, dims, 1, options(16), [stats[1]!, stats[0]!]);
    expect(Array.from(swapped.codes)).not.toEqual(Array.from(got.codes));
  });

  it('under a white (diagonal) patch Hessian feeds nothing back: every block is rounded to nearest, as rtn writes it', () => {
    const dims = [6, 64, 3, 3];
    const cols = 64 * 9;
    const s = createLayerStats(64, true, false, cols);
    // Independent inputs of unequal power: 2/N·Σ pᵀp is diagonal.
    const rows = new Float32Array(cols * cols);
    for (let i = 0; i < cols; i++) rows[i * cols + i] = 1 + (i % 7);
    for (let k = 0; k < PATCHES_PER_COLUMN; k++) s.patchHessian!.add(rows, cols);
    s.rows = PATCHES_PER_COLUMN * cols;
    const w = weights(6 * cols, 23);
    const got = quantizeBlockedWeight(w, dims, 1, options(32), [s]);
    const rtn = quantizeBlockedWeight(w, dims, 1, { ...options(32), method: 'rtn' });
    expect(got.method).toBe('gptq');
    expect(Array.from(got.codes)).toEqual(Array.from(rtn.codes));
    expect(Array.from(got.scale)).toEqual(Array.from(rtn.scale));
    expect(Array.from(got.zeroPoint)).toEqual(Array.from(rtn.zeroPoint));
  });

  it('keeps the per-channel Hessian where the patch Hessian saw fewer than PATCHES_PER_COLUMN patches per column (a layer deep in a U-Net sees a few positions)', () => {
    const dims = [6, 64, 3, 3];
    const w = weights(6 * 64 * 9, 43);
    // 1 × 24 × 24 = 576 patches for 576 columns.
    const few = statsOf(smoothImages(1, 64, 24, 47), [1, 64, 24, 24], dims);
    expect(few[0]!.patchHessian!.samples).toBeLessThan(PATCHES_PER_COLUMN * 576);
    const got = quantizeBlockedWeight(w, dims, 1, options(32), few);
    const perChannel = quantizeBlockedWeight(w, dims, 1, options(32), withoutPatches(few));
    expect(got.method).toBe('gptq');
    expect(Array.from(got.codes)).toEqual(Array.from(perChannel.codes));
    expect(Array.from(got.scale)).toEqual(Array.from(perChannel.scale));
    // With enough patches the same layer runs under the patch Hessian.
    const enough = statsOf(smoothImages(4, 64, 24, 47), [4, 64, 24, 24], dims);
    expect(Array.from(quantizeBlockedWeight(w, dims, 1, options(32), enough).codes)).toEqual(Array.from(unfoldedGptq(w, dims, enough, options(32)).codes));
  });

  it('on spatially correlated input, has clearly less output error on held-out images than gptq under the per-input-channel Hessian (each tap on its own)', () => {
    // 32 channels: 288 patch columns, calibrated on 8 × 24 × 24 patches (GPTQ needs many more patches than columns, as in a real calibration).
    const dims = [16, 32, 3, 3];
    const w = weights(16 * 32 * 9, 29);
    const calibration = statsOf(smoothImages(8, 32, 24, 31), [8, 32, 24, 24], dims);
    const heldOut = statsOf(smoothImages(8, 32, 24, 37), [8, 32, 24, 24], dims);
    for (const dtype of ['int4', 'int3'] as const) {
      const err = (stats: readonly LayerStats[]): number => {
        const q = quantizeBlockedWeight(w, dims, 1, options(32, false, dtype), stats);
        expect(q.method).toBe('gptq');
        return outputError(w, dequantizeBlocked(q, dims, 1, 32), dims, heldOut);
      };
      const patch = err(calibration);
      const perChannel = err(withoutPatches(calibration));
      expect(patch).toBeLessThan(0.5 * perChannel);
    }
  });
});
