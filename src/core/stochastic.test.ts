import { describe, expect, it } from 'vitest';
import { blockLayout, PER_TENSOR } from './layout.js';
import { createRng } from './random.js';
import { quantizeStochastic } from './stochastic.js';

const SCALE = 0.25;

/** n copies of v quantized stochastically to int8 with scale 0.25 and the given zero point. */
function codesOf(v: number, n: number, seed: number, zeroPoint = 0): Int8Array {
  const x = new Float32Array(n).fill(v);
  const out = new Int8Array(n);
  quantizeStochastic(x, blockLayout([n], PER_TENSOR), new Float32Array([SCALE]), new Int32Array([zeroPoint]), -128, 127, out, createRng(seed));
  return out;
}

describe('quantizeStochastic', () => {
  it('is reproducible from its seed and differs between seeds', () => {
    expect(codesOf(1.1, 256, 42)).toEqual(codesOf(1.1, 256, 42));
    expect(codesOf(1.1, 256, 42)).not.toEqual(codesOf(1.1, 256, 43));
  });

  it('only ever picks one of the two neighbouring levels', () => {
    const codes = codesOf(0.3, 1000, 1, 5); // 0.3 / 0.25 = 1.2 → level 1 or 2, plus zp 5
    for (const q of codes) expect([6, 7]).toContain(q);
  });

  it('is unbiased: the mean code converges to the exact fraction', () => {
    const n = 20000;
    for (const [v, seed] of [[0.3, 3], [-0.8125, 4], [2.0625, 5], [0.01, 6]] as const) {
      const exact = Math.fround(Math.fround(v) / SCALE);
      const frac = exact - Math.floor(exact);
      let sum = 0;
      for (const q of codesOf(v, n, seed)) sum += q;
      const mean = sum / n;
      // Each code is floor(exact) + Bernoulli(frac): standard error sqrt(frac (1 - frac) / n).
      const se = Math.sqrt((frac * (1 - frac)) / n);
      expect(Math.abs(mean - exact), `${v}: mean ${mean} vs ${exact}`).toBeLessThan(4 * se);
    }
  });

  it('never moves a value that sits exactly on a level', () => {
    for (const k of [-128, -3, 0, 1, 17, 127]) {
      const codes = codesOf(k * SCALE, 500, k + 1000);
      expect(codes.every((q) => q === k)).toBe(true);
    }
    expect(codesOf(-0, 100, 9).every((q) => q === 0)).toBe(true);
  });

  it('clamps to [qmin, qmax]', () => {
    expect(codesOf(1000, 50, 1).every((q) => q === 127)).toBe(true);
    expect(codesOf(-1000, 50, 1).every((q) => q === -128)).toBe(true);
    expect(codesOf(127.9 * SCALE, 200, 2).every((q) => q === 127)).toBe(true);
  });

  it('indexes parameters from `start` like the kernels (chunked input)', () => {
    // Per-axis over [3, 2] (axis 0): rows use scales 1, 10, 100. Elements 2..5 as a chunk.
    const layout = blockLayout([3, 2], { kind: 'per-axis', axis: 0 });
    const chunk = new Float32Array([20, 30, 200, 300]);
    const out = new Int8Array(4);
    quantizeStochastic(chunk, layout, new Float32Array([1, 10, 100]), new Int32Array([0, 1, 2]), -128, 127, out, createRng(0), 2);
    expect(Array.from(out)).toEqual([3, 4, 4, 5]);
  });
});
