import { describe, expect, it } from 'vitest';
import { hessianAccumulator } from '../../../core/lowbit/hessian-accumulator.js';
import { makeNode } from '../../../formats/onnx/builders.js';
import { addConvPatches, convGeometry, patchRowsBound } from './conv-patch-hessian.js';
import { HESSIAN_ROWS } from './layer-stats.js';
import { relRms } from '../../../../test/helpers/rel-rms.js';

/** A seeded LCG in [−1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/**
 * x [n, c, size, size] far from stationary: each channel's level and texture change across the
 * image (a ramp down the rows, stripes whose period aliases with a power-of-two stride), so a
 * sample that favoured some rows, some columns or some batch items would not see the whole
 * input's second moments.
 */
function unevenImages(n: number, c: number, size: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n * c * size * size);
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < c; k++) {
      for (let h = 0; h < size; h++) {
        for (let w = 0; w < size; w++) {
          const stripes = w % 8 === 0 ? 2 : 0;
          x[((b * c + k) * size + h) * size + w] = (1 + k) * (h / size) * (b + 1) + stripes + 0.3 * r();
        }
      }
    }
  }
  return x;
}

const geometry = convGeometry(makeNode('Conv', ['x', 'W'], ['y'], { attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } }), [4, 2, 3, 3]);

describe('addConvPatches past maxRows patches', () => {
  // 2 images of 64 × 64, pad 1: 8192 patches of 2 channels × 9 taps.
  const dims = [2, 2, 64, 64];
  const x = unevenImages(2, 2, 64, 5);
  const full = (() => {
    const acc = hessianAccumulator(18);
    addConvPatches(acc, x, dims, geometry, 0, 2, Infinity);
    return acc;
  })();

  it('folds every patch in at or under the bound', () => {
    const acc = hessianAccumulator(18);
    addConvPatches(acc, x, dims, geometry, 0, 2, 8192);
    expect(acc.samples).toBe(8192);
    expect(Array.from(acc.hessian())).toEqual(Array.from(full.hessian()));
  });

  it('folds in a seeded stratified sample of maxRows patches: the same sample for the same state, another for the next batch', () => {
    const a = hessianAccumulator(18);
    const b = hessianAccumulator(18);
    addConvPatches(a, x, dims, geometry, 0, 2, 1024);
    addConvPatches(b, x, dims, geometry, 0, 2, 1024);
    expect(a.samples).toBe(1024);
    expect(Array.from(a.hessian())).toEqual(Array.from(b.hessian()));
    // The seed is the patches already folded in: a second batch draws other patches, so the mean moves.
    const once = a.hessian();
    addConvPatches(a, x, dims, geometry, 0, 2, 1024);
    expect(a.samples).toBe(2048);
    expect(Array.from(a.hessian())).not.toEqual(Array.from(once));
  });

  it('estimates the whole input\'s patch Hessian: within a few percent from one sample, closer over several batches', () => {
    const acc = hessianAccumulator(18);
    addConvPatches(acc, x, dims, geometry, 0, 2, 1024);
    const one = relRms(acc.hessian(), full.hessian());
    for (let k = 1; k < 8; k++) addConvPatches(acc, x, dims, geometry, 0, 2, 1024);
    const eight = relRms(acc.hessian(), full.hessian());
    expect(one).toBeLessThan(0.05);
    expect(eight).toBeLessThan(one);
    expect(eight).toBeLessThan(0.02);
    // A biased pick (the patches of the first image only) is far off: the bounds above are not vacuous.
    const head = hessianAccumulator(18);
    addConvPatches(head, x.subarray(0, 2 * 64 * 64), [1, 2, 64, 64], geometry, 0, 2, Infinity);
    expect(relRms(head.hessian(), full.hessian())).toBeGreaterThan(0.1);
  });

  it('samples the channels of the group it is given, the same patches for every group of a batch', () => {
    const x4 = unevenImages(2, 4, 64, 9);
    const d4 = [2, 4, 64, 64];
    const g0 = hessianAccumulator(18);
    const g1 = hessianAccumulator(18);
    addConvPatches(g0, x4, d4, geometry, 0, 2, 1024);
    addConvPatches(g1, x4, d4, geometry, 2, 2, 1024);
    // Channels 2 and 3 alone, as their own input: the same picks (same count, same seed), the same sums.
    const only = new Float32Array(2 * 2 * 64 * 64);
    for (let b = 0; b < 2; b++) only.set(x4.subarray((b * 4 + 2) * 4096, (b * 4 + 4) * 4096), b * 2 * 4096);
    const ref = hessianAccumulator(18);
    addConvPatches(ref, only, [2, 2, 64, 64], geometry, 0, 2, 1024);
    expect(Array.from(g1.hessian())).toEqual(Array.from(ref.hessian()));
    expect(Array.from(g0.hessian())).not.toEqual(Array.from(g1.hessian()));
  });
});

describe('patchRowsBound', () => {
  const scheme = (granularity: { kind: 'per-axis'; axis: number } | { kind: 'per-block'; axis: number; blockSize: number }) => ({ form: 'dequantize-linear', dtype: 'int4', symmetric: true, granularity, domain: '', reduceRange: false }) as const;

  it('samples the wide patch Hessians of channel-blocked Convs as the per-channel rows are, and keeps every patch of the narrow per-output-channel and taps-blocked ones', () => {
    expect(patchRowsBound(scheme({ kind: 'per-block', axis: 1, blockSize: 32 }))).toBe(HESSIAN_ROWS);
    expect(patchRowsBound(scheme({ kind: 'per-axis', axis: 0 }))).toBe(Infinity);
    expect(patchRowsBound(scheme({ kind: 'per-block', axis: 2, blockSize: 32 }))).toBe(Infinity);
  });
});
