import { describe, expect, it } from 'vitest';
import { quantizeWeightGptq } from '../../../core/lowbit/quantize-weight-gptq.js';
import type { BlockedWeightOptions } from './blocked-weight.js';
import { dequantizeBlocked, quantizeBlockedWeight } from './blocked-weight.js';
import { tapsColumnOrder, tapsGptqApplies } from './conv-taps-gptq.js';
import type { LayerStats } from './layer-stats.js';
import { createLayerStats } from './layer-stats.js';

/** A seeded LCG in [−1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** An AR(1) signal x_t = 0.97·x_{t−1} + noise: neighbouring samples strongly correlated, as audio is. */
function correlatedSignal(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n);
  for (let t = 1; t < n; t++) x[t] = 0.97 * x[t - 1]! + 0.2 * r();
  return x;
}

/** The im2col patches of a one-channel 1-D Conv by the definition: patch p is x[p·stride .. p·stride + k). */
function patchesOf(x: Float32Array, k: number, stride: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let s = 0; s + k <= x.length; s += stride) out.push(x.slice(s, s + k));
  return out;
}

/** Layer statistics of a one-input-channel Conv whose patch Hessian is 2/N·Σ patchᵀ·patch over `patches`. */
function statsOf(patches: readonly Float32Array[]): LayerStats {
  const cols = patches[0]!.length;
  const s = createLayerStats(1, true, false, cols);
  const rows = new Float32Array(patches.length * cols);
  patches.forEach((p, i) => rows.set(p, i * cols));
  s.patchHessian!.add(rows, patches.length);
  s.rows = patches.length;
  return s;
}

/** 2/N·Σ patchᵀ·patch summed here, in float64, for comparing with what the statistics hold. */
function hessianByDefinition(patches: readonly Float32Array[]): Float64Array {
  const k = patches[0]!.length;
  const h = new Float64Array(k * k);
  for (const p of patches) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i * k + j] += (2 * p[i]! * p[j]!) / patches.length;
  return h;
}

const options = (method: BlockedWeightOptions['method'], dtype: BlockedWeightOptions['dtype'] = 'int4'): BlockedWeightOptions => ({ dtype, symmetric: true, blockSize: 32, method, damp: 0.01, actOrder: false, kernelTaps: true });

const weights = (n: number, seed: number): Float32Array => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r());
};

describe('tapsColumnOrder', () => {
  it('visits the blocked kernel axis innermost, every other index of (channel, k...) in row-major order outside it', () => {
    const dims = [5, 2, 3, 4, 2];
    for (let axis = 2; axis < dims.length; axis++) {
      const inner = dims.slice(1);
      const a = axis - 1;
      const want: number[] = [];
      // Row-major over the inner dims with axis a moved last: odometer over the other axes, then a.
      const others = inner.map((_, i) => i).filter((i) => i !== a);
      const count = others.reduce((p, i) => p * inner[i]!, 1);
      for (let o = 0; o < count; o++) {
        const coord = new Array<number>(inner.length).fill(0);
        for (let r = o, k = others.length - 1; k >= 0; k--) {
          coord[others[k]!] = r % inner[others[k]!]!;
          r = Math.floor(r / inner[others[k]!]!);
        }
        for (let t = 0; t < inner[a]!; t++) {
          coord[a] = t;
          want.push(coord.reduce((p, c, i) => p * inner[i]! + c, 0));
        }
      }
      expect(Array.from(tapsColumnOrder(dims, axis))).toEqual(want);
    }
    expect(Array.from(tapsColumnOrder([3, 1, 64], 2))).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });

  it('applies only where blocks tile the axis exactly', () => {
    expect(tapsGptqApplies([258, 1, 256], 2, 32)).toBe(true);
    expect(tapsGptqApplies([8, 1, 48], 2, 32)).toBe(false);
  });
});

describe('gptq on a Conv weight blocked along its kernel taps', () => {
  const signal = correlatedSignal(4096, 3);
  const patches = patchesOf(signal, 64, 8);

  it('is MatMul-style GPTQ on the [M, taps] matrix with the patch Hessian (one input channel, the taps last)', () => {
    const w = weights(6 * 64, 11);
    const stats = statsOf(patches);
    const h = hessianByDefinition(patches);
    const got = stats.patchHessian!.hessian();
    const top = h.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < h.length; i++) expect(Math.abs(got[i]! - h[i]!)).toBeLessThanOrEqual(1e-9 * top);
    for (const actOrder of [false, true]) {
      const r = quantizeBlockedWeight(w, [6, 1, 64], 2, { ...options('gptq'), actOrder }, [stats]);
      const ref = quantizeWeightGptq(w, [6, 64], got, { bits: 4, blockSize: 32, symmetric: true, signed: true, damp: 0.01, actOrder });
      expect(r).toMatchObject({ method: 'gptq', paramShape: [6, 1, 2] });
      expect(r).not.toHaveProperty('fallback');
      expect(Array.from(r.codes)).toEqual(Array.from(ref.codes));
      expect(Array.from(r.scale)).toEqual(Array.from(ref.scales));
      expect(Array.from(r.zeroPoint)).toEqual(Array.from(ref.zeroPoints));
    }
  });

  it('runs each group of a grouped Conv on its own patch Hessian', () => {
    // group 2: output channels 0-2 read input channel 0, 3-5 channel 1; the two channels differ in correlation.
    const w = weights(6 * 64, 29);
    const other = patchesOf(correlatedSignal(4096, 8).map((v, i) => v + 0.5 * Math.sin(i / 2)), 64, 8);
    const stats = [statsOf(patches), statsOf(other)];
    const r = quantizeBlockedWeight(w, [6, 1, 64], 2, options('gptq'), stats);
    expect(r.method).toBe('gptq');
    const opts = { bits: 4, blockSize: 32, symmetric: true, signed: true, damp: 0.01, actOrder: false };
    const want = [0, 1].map((g) => quantizeWeightGptq(w.subarray(g * 3 * 64, (g + 1) * 3 * 64), [3, 64], stats[g]!.patchHessian!.hessian(), opts));
    expect(Array.from(r.codes)).toEqual([...want[0]!.codes, ...want[1]!.codes]);
    expect(Array.from(r.scale)).toEqual([...want[0]!.scales, ...want[1]!.scales]);
    // Not one Hessian for both: the second group's codes differ from what the first group's Hessian gives it.
    const crossed = quantizeWeightGptq(w.subarray(3 * 64), [3, 64], stats[0]!.patchHessian!.hessian(), opts);
    expect(Array.from(crossed.codes)).not.toEqual(Array.from(want[1]!.codes));
  });

  it('with the taps axis not last, runs GPTQ on the columns reordered taps-innermost and the Hessian permuted alike, its blocks back in place', () => {
    // W [4, 1, 64, 2]: blocks of 32 along axis 2; a filter's 128 columns are (k2, k3) row-major.
    const dims = [4, 1, 64, 2];
    const x2 = [correlatedSignal(4096, 5), correlatedSignal(4096, 6)];
    const cols = 128;
    const rows: Float32Array[] = [];
    for (let s = 0; s + 64 <= 4096; s += 16) rows.push(Float32Array.from({ length: cols }, (_, j) => x2[j % 2]![s + Math.floor(j / 2)]!));
    const stats = statsOf(rows);
    const h = stats.patchHessian!.hessian();
    const w = weights(4 * cols, 13);
    const r = quantizeBlockedWeight(w, dims, 2, options('gptq'), [stats]);
    expect(r.method).toBe('gptq');
    // By hand: column n of the reordered matrix is (k3 = floor(n / 64), k2 = n % 64), original index 2·k2 + k3.
    const orig = (n: number): number => 2 * (n % 64) + Math.floor(n / 64);
    const wp = Float32Array.from({ length: 4 * cols }, (_, i) => w[Math.floor(i / cols) * cols + orig(i % cols)]!);
    const hp = Float64Array.from({ length: cols * cols }, (_, i) => h[orig(Math.floor(i / cols)) * cols + orig(i % cols)]!);
    const ref = quantizeWeightGptq(wp, [4, cols], hp, { bits: 4, blockSize: 32, symmetric: true, signed: true, damp: 0.01, actOrder: false, dequantize: true });
    const want = new Float32Array(4 * cols);
    for (let i = 0; i < want.length; i++) want[Math.floor(i / cols) * cols + orig(i % cols)] = ref.dequantized![i]!;
    expect(Array.from(dequantizeBlocked(r, dims, 2, 32))).toEqual(Array.from(want));
  });

  it('has less output error than rtn and search on held-out correlated input, at int4 and int3', () => {
    const held = patchesOf(correlatedSignal(4096, 77), 64, 8);
    const w = weights(16 * 64, 17);
    const stats = [statsOf(patches)];
    const outputError = (deq: Float32Array): number => {
      let e = 0;
      for (const p of held) {
        for (let m = 0; m < 16; m++) {
          let d = 0;
          for (let k = 0; k < 64; k++) d += (deq[m * 64 + k]! - w[m * 64 + k]!) * p[k]!;
          e += d * d;
        }
      }
      return e;
    };
    for (const dtype of ['int4', 'int3'] as const) {
      const err = (method: BlockedWeightOptions['method']): number => outputError(dequantizeBlocked(quantizeBlockedWeight(w, [16, 1, 64], 2, options(method, dtype), stats), [16, 1, 64], 2, 32));
      const gptq = err('gptq');
      expect(gptq).toBeLessThan(0.5 * err('rtn'));
      expect(gptq).toBeLessThan(0.5 * err('search'));
    }
  });

  it('falls back to search, saying no batch reached it, where the patch Hessian saw nothing', () => {
    const r = quantizeBlockedWeight(weights(4 * 64, 19), [4, 1, 64], 2, options('gptq'), [createLayerStats(1, true, false, 64)]);
    expect(r).toMatchObject({ method: 'search', fallback: expect.stringContaining('no calibration inputs reach this weight') });
  });

  it('keeps search where blocks do not tile the taps (48 taps in blocks of 32)', () => {
    const p48 = patchesOf(correlatedSignal(2048, 9), 48, 8);
    const r = quantizeBlockedWeight(weights(4 * 48, 21), [4, 1, 48], 2, options('gptq'), [statsOf(p48)]);
    expect(r.method).toBe('search');
  });
});
