import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { QuantError } from './errors.js';
import { computeQParams, fakeQuantize } from './quantize.js';
import { fakeQuantizeBackward, fakeQuantizeWithGrad, forEachParamRun } from './ste.js';
import { blockLayout, paramIndex } from './layout.js';
import type { Granularity } from './layout.js';

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('fakeQuantizeWithGrad', () => {
  // uint8, scale 0.1, zero point 10: codes 0..255 cover x in [-1, 24.5].
  const params = computeQParams(new Float32Array([-1, 24.5]), [2], { dtype: 'uint8' });

  it('passes the gradient where the unclamped code is in range, as PyTorch tests the rounded code', () => {
    const s = params.scale[0];
    const zp = params.zeroPoint[0];
    const lo = (params.qmin - zp) * s;
    const hi = (params.qmax - zp) * s;
    // Inside; just past the clamp interval but rounding onto qmin/qmax (still 1); rounding past them (0).
    const x = new Float32Array([0, 3.3, lo, hi, lo - 0.4 * s, hi + 0.4 * s, lo - 0.6 * s, hi + 0.6 * s, -50, 50]);
    const { values, mask } = fakeQuantizeWithGrad(x, [x.length], params);
    expect(Array.from(mask)).toEqual([1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
    expect(values[6]).toBe(Math.fround((params.qmin - zp) * s));
    expect(values[9]).toBe(Math.fround((params.qmax - zp) * s));
    const dY = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, -9, 10]);
    const dX = fakeQuantizeBackward(dY, mask);
    expect(Array.from(dX)).toEqual([1, 2, 3, 4, 5, 6, 0, 0, -0, 0]);
    expect(Object.is(dX[8], -0)).toBe(true);
  });

  it('equals core fakeQuantize bit for bit, per tensor, per axis and per block (property)', () => {
    const granularities: Granularity[] = [{ kind: 'per-tensor' }, { kind: 'per-axis', axis: 1 }, { kind: 'per-axis', axis: -1 }, { kind: 'per-block', axis: 1, blockSize: 2 }];
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -100, max: 100, noNaN: true }), { minLength: 24, maxLength: 24 }),
        fc.constantFrom(...granularities),
        fc.constantFrom('int8', 'uint4', 'int16') as fc.Arbitrary<'int8' | 'uint4' | 'int16'>,
        fc.boolean(),
        (vals, granularity, dtype, symmetric) => {
          const x = Float32Array.from(vals);
          const shape = [2, 4, 3];
          // Parameters from a narrower range than the data, so some values clip.
          const p = computeQParams(x.map((v) => v * 0.7), shape, { dtype, symmetric, granularity });
          const want = fakeQuantize(x, shape, { params: p }).values;
          const got = fakeQuantizeWithGrad(x, shape, p).values;
          return bitsOf(got).join() === bitsOf(want).join();
        },
      ),
      { seed: 3, numRuns: 150 },
    );
  });

  it('agrees with central finite differences of the smoothed forward', () => {
    // The forward is a staircase: its true derivative is 0 almost everywhere and undefined on the
    // steps, so finite differences of it say nothing about the STE. The STE is the exact
    // derivative of the forward with the rounding offset frozen, y(x) = (clamp(x/s + δ + z) − z)·s
    // with δ = round(x0/s) − x0/s; that surrogate is piecewise linear with corners where the code
    // is exactly qmin or qmax, so finite differences match it at points whose code is neither
    // (and which are not within h of a rounding tie), which the data below are.
    const s = params.scale[0];
    const zp = params.zeroPoint[0];
    const x0 = [-3, -0.84, 0.3, 7.77, 24.44, 24.56, 30, -1.2];
    const { mask } = fakeQuantizeWithGrad(Float32Array.from(x0), [x0.length], params);
    const h = 1e-4;
    x0.forEach((x, i) => {
      const delta = Math.round(Math.fround(x / s)) - x / s;
      const y = (t: number) => (Math.min(Math.max(t / s + delta + zp, params.qmin), params.qmax) - zp) * s;
      const fd = (y(x + h) - y(x - h)) / (2 * h);
      expect(fd).toBeCloseTo(mask[i], 6);
    });
  });

  it('reuses output buffers and rejects NaN and mismatched sizes', () => {
    const x = new Float32Array([1, 2]);
    const values = new Float32Array(2);
    const mask = new Uint8Array(2);
    const r = fakeQuantizeWithGrad(x, [2], params, { values, mask });
    expect(r.values).toBe(values);
    expect(r.mask).toBe(mask);
    const dX = new Float32Array(2);
    expect(fakeQuantizeBackward(new Float32Array([1, 1]), mask, dX)).toBe(dX);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return `${(e as QuantError).code}: ${(e as Error).message}`;
      }
      return 'no error';
    };
    expect(code(() => fakeQuantizeWithGrad(new Float32Array([0, NaN]), [2], params))).toMatch(/^NAN_INPUT: .*index 1/);
    expect(code(() => fakeQuantizeWithGrad(x, [3], params))).toMatch(/^SHAPE_MISMATCH/);
    expect(code(() => fakeQuantizeWithGrad(x, [2], params, { values: new Float32Array(3) }))).toMatch(/^SHAPE_MISMATCH: output has 3 elements, expected 2/);
    expect(code(() => fakeQuantizeBackward(new Float32Array(3), mask))).toMatch(/^SHAPE_MISMATCH: mask has 2 elements but the gradient has 3/);
    expect(code(() => fakeQuantizeBackward(new Float32Array(2), mask, new Float32Array(1)))).toMatch(/^SHAPE_MISMATCH/);
  });
});

describe('forEachParamRun', () => {
  it('visits every element once with the parameter paramIndex gives', () => {
    const shapes: [number[], Granularity][] = [
      [[5], { kind: 'per-tensor' }],
      [[0, 3], { kind: 'per-axis', axis: 1 }],
      [[2, 3, 4], { kind: 'per-axis', axis: 1 }],
      [[2, 3, 4], { kind: 'per-axis', axis: 2 }],
      [[2, 5, 3], { kind: 'per-block', axis: 1, blockSize: 2 }],
      [[4, 6], { kind: 'per-block', axis: 1, blockSize: 4 }],
    ];
    for (const [shape, gr] of shapes) {
      const layout = blockLayout(shape, gr);
      const seen = new Int32Array(layout.size).fill(-1);
      forEachParamRun(layout, (from, to, p, vary) => {
        for (let g = from; g < to; g++) {
          expect(seen[g]).toBe(-1);
          seen[g] = vary ? p + (g - from) : p;
        }
      });
      for (let g = 0; g < layout.size; g++) expect(seen[g]).toBe(paramIndex(layout, g));
    }
  });
});
