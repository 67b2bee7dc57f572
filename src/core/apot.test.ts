import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { APOT_MAX_LEVELS, apotAlpha, apotDequantize, apotLevels, apotQuantDequant, apotQuantize } from './apot.js';
import { expectQuantError } from '../../test/helpers/quant-error.js';

// Beyond vitest's 5 s default on a 2-core machine: this file builds level sets of up to 2^16 levels and checks every one.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

describe('apotLevels', () => {
  it('builds the b=4, k=2 unsigned levels of docs/apot.md by hand', () => {
    const lv = apotLevels({ bits: 4, k: 2, alpha: 1.5 });
    expect(lv.n).toBe(2);
    // gamma = alpha / (2^0 + 2^-1)
    expect(lv.gamma).toBe(1);
    const p0 = [0, 1, 1 / 4, 1 / 16];
    const p1 = [0, 1 / 2, 1 / 8, 1 / 32];
    const want = p0.flatMap((a) => p1.map((b) => a + b)).sort((a, b) => a - b);
    expect(Array.from(lv.levels)).toEqual(want);
    expect(lv.levels[lv.levels.length - 1]).toBe(1.5);
  });

  it('has 2^b distinct unsigned levels, from 0 to alpha, while the sums are exact in float32', () => {
    for (const [bits, k] of [[2, 1], [4, 4], [6, 2], [6, 3], [8, 2], [9, 3], [16, 2]] as const) {
      const lv = apotLevels({ bits, k, alpha: 1 });
      expect(lv.levels.length).toBe(2 ** bits);
      expect(lv.levels[0]).toBe(0);
      expect(lv.levels[lv.levels.length - 1]).toBeCloseTo(1, 6);
      for (let i = 1; i < lv.levels.length; i++) expect(lv.levels[i]).toBeGreaterThan(lv.levels[i - 1]);
    }
    // n·(2^k − 1) = 30 > 24: float32 accumulation (as PyTorch's) rounds 9 pairs of sums together.
    expect(apotLevels({ bits: 8, k: 4, alpha: 1 }).levels.length).toBe(247);
  });

  it('keeps one copy of the signed sums that coincide (1 - 1/2 = 0 + 1/2) and is symmetric', () => {
    const lv = apotLevels({ bits: 4, k: 2, alpha: 1.5, signed: true });
    // 7 x 7 combinations of {0, ±1, ±1/4, ±1/16} and {0, ±1/2, ±1/8, ±1/32} with repeats removed.
    expect(lv.levels.length).toBeLessThan(49);
    expect(new Set(lv.levels).size).toBe(lv.levels.length);
    const n = lv.levels.length;
    for (let i = 0; i < n; i++) expect(lv.levels[i]).toBe(0 - lv.levels[n - 1 - i]);
    expect(lv.levels[n - 1]).toBe(1.5);
    expect(Object.is(lv.levels[(n - 1) / 2], 0)).toBe(true);
  });

  it('takes alpha from the data (max |x|) when it is not given', () => {
    const data = new Float32Array([0.25, -3, 2]);
    expect(apotAlpha(data)).toBe(3);
    const lv = apotLevels({ bits: 4, k: 2 }, data);
    expect(lv.alpha).toBe(3);
    expect(lv.gamma).toBe(2);
  });

  it('rounds alpha to float32 and gamma = fround(alpha / pSum)', () => {
    const lv = apotLevels({ bits: 6, k: 2, alpha: 0.1 });
    expect(lv.alpha).toBe(Math.fround(0.1));
    expect(lv.gamma).toBe(Math.fround(Math.fround(0.1) / 1.75));
  });

  it('collapses to the single level 0 for alpha 0', () => {
    const lv = apotLevels({ bits: 4, k: 2, signed: true }, new Float32Array(5));
    expect(Array.from(lv.levels)).toEqual([0]);
    expect(Array.from(apotQuantize(new Float32Array([1, -1, 0]), lv))).toEqual([0, 0, 0]);
  });

  it('rejects bad bits, k and alpha with clear messages', () => {
    expectQuantError(() => apotLevels({ bits: 1, k: 1, alpha: 1 }), 'INVALID_ARGUMENT', /bits must be an integer in 2\.\.16, got 1/);
    expectQuantError(() => apotLevels({ bits: 17, k: 1, alpha: 1 }), 'INVALID_ARGUMENT', /got 17/);
    expectQuantError(() => apotLevels({ bits: 4.5, k: 1, alpha: 1 }), 'INVALID_ARGUMENT', /got 4.5/);
    expectQuantError(() => apotLevels({ bits: 6, k: 4, alpha: 1 }), 'INVALID_ARGUMENT', /k must .* divides bits \(6\), got 4/);
    expectQuantError(() => apotLevels({ bits: 6, k: 0, alpha: 1 }), 'INVALID_ARGUMENT', /got 0/);
    expectQuantError(() => apotLevels({ bits: 4, k: 2, alpha: -1 }), 'INVALID_ARGUMENT', /alpha must be a finite number >= 0, got -1/);
    expectQuantError(() => apotLevels({ bits: 4, k: 2, alpha: Infinity }), 'INVALID_ARGUMENT', /got Infinity/);
    expectQuantError(() => apotLevels({ bits: 4, k: 2 }), 'INVALID_ARGUMENT', /needs alpha or data/);
    expectQuantError(() => apotLevels({ bits: 4, k: 2 }, new Float32Array(0)), 'EMPTY_INPUT', /empty/);
    expectQuantError(() => apotLevels({ bits: 4, k: 2 }, new Float32Array([1, NaN])), 'NAN_INPUT', /index 1/);
    expectQuantError(() => apotLevels({ bits: 4, k: 2 }, new Float32Array([-Infinity])), 'INF_INPUT', /-Infinity at index 0/);
  });

  it('refuses level sets past APOT_MAX_LEVELS instead of exhausting memory', () => {
    expectQuantError(() => apotLevels({ bits: 16, k: 2, alpha: 1, signed: true }), 'UNSUPPORTED', new RegExp(`more than ${APOT_MAX_LEVELS}`));
  });
});

describe('apotQuantize / apotDequantize / apotQuantDequant', () => {
  const lv = apotLevels({ bits: 4, k: 2, alpha: 1.5 });

  it('sends a value on a midpoint to the lower level, and one ulp above it to the upper', () => {
    // Levels 1 and 33/32: midpoint 65/64 is exact in float32.
    const mid = 65 / 64;
    const above = new Float32Array([mid]);
    above[0] = Math.fround(mid + 2 ** -23);
    const idx = apotQuantize(new Float32Array([mid, above[0], Math.fround(mid - 2 ** -23)]), lv);
    const l1 = lv.levels.indexOf(1);
    expect(Array.from(idx)).toEqual([l1, l1 + 1, l1]);
    // Between 0 and 1/32 the tie 1/64 goes to 0.
    expect(Array.from(apotQuantize(new Float32Array([1 / 64]), lv))).toEqual([0]);
  });

  it('saturates beyond the extreme levels and maps negatives to 0 when unsigned', () => {
    const x = new Float32Array([-5, -0.01, 1.6, 100, Infinity, -Infinity]);
    expect(Array.from(apotQuantDequant(x, lv))).toEqual([0, 0, 1.5, 1.5, 1.5, 0]);
  });

  it('matches a brute-force nearest level on random data (property)', () => {
    const signed = apotLevels({ bits: 6, k: 2, alpha: 2, signed: true });
    fc.assert(
      fc.property(fc.array(fc.float({ min: -3, max: 3, noNaN: true }), { minLength: 1, maxLength: 50 }), (vals) => {
        const x = Float32Array.from(vals);
        const got = apotQuantize(x, signed);
        for (let j = 0; j < x.length; j++) {
          let best = 0;
          for (let i = 1; i < signed.levels.length; i++) {
            if (Math.abs(signed.levels[i] - x[j]) < Math.abs(signed.levels[best] - x[j])) best = i;
          }
          if (got[j] !== best) return false;
        }
        return true;
      }),
      { seed: 7, numRuns: 200 },
    );
  });

  it('round-trips every level through quantize and dequantize', () => {
    const idx = apotQuantize(lv.levels, lv);
    expect(Array.from(idx)).toEqual(Array.from(lv.levels, (_, i) => i));
    expect(apotDequantize(idx, lv)).toEqual(lv.levels);
  });

  it('writes into caller buffers and uses Int32Array indices past 65536 levels', () => {
    const out = new Int32Array(3);
    expect(apotQuantize(new Float32Array([0, 1, 1.5]), lv, out)).toBe(out);
    expect(Array.from(out)).toEqual([0, 12, 15]);
    const f = new Float32Array(3);
    expect(apotDequantize(out, lv, f)).toBe(f);
    expect(apotQuantDequant(new Float32Array([0, 1, 1.5]), lv, f)).toBe(f);

    const big = apotLevels({ bits: 16, k: 1, alpha: 1, signed: true });
    expect(big.levels.length).toBeGreaterThan(65536);
    const codes = apotQuantize(new Float32Array([-1, 1]), big);
    expect(codes).toBeInstanceOf(Int32Array);
    expect(Array.from(codes)).toEqual([0, big.levels.length - 1]);
    expectQuantError(() => apotQuantize(new Float32Array(2), big, new Uint16Array(2)), 'INVALID_ARGUMENT', /need an Int32Array/);
    expect(apotQuantize(new Float32Array(2), lv)).toBeInstanceOf(Uint16Array);
  });

  it('rejects NaN, bad indices and mis-sized outputs', () => {
    expectQuantError(() => apotQuantize(new Float32Array([0, NaN]), lv), 'NAN_INPUT', /NaN at index 1/);
    expectQuantError(() => apotQuantDequant(new Float32Array([NaN]), lv), 'NAN_INPUT', /index 0/);
    expectQuantError(() => apotDequantize(new Int32Array([0, 16]), lv), 'INVALID_ARGUMENT', /index 16 at position 1 is outside 0\.\.15/);
    expectQuantError(() => apotDequantize(new Int32Array([-1]), lv), 'INVALID_ARGUMENT', /index -1/);
    expectQuantError(() => apotQuantize(new Float32Array(2), lv, new Int32Array(3)), 'SHAPE_MISMATCH', /3 elements, expected 2/);
    expectQuantError(() => apotDequantize(new Int32Array(2), lv, new Float32Array(1)), 'SHAPE_MISMATCH', /expected 2/);
    expectQuantError(() => apotQuantDequant(new Float32Array(2), lv, new Float32Array(1)), 'SHAPE_MISMATCH', /expected 2/);
  });
});
