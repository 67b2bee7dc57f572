import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { lsqBackward, lsqFakeQuantize, lsqGradFactor } from './lsq.js';
import type { LsqParams } from './lsq.js';
import { fakeQuantize } from './quantize.js';
import type { QParams } from './qparams.js';
import { createRng } from './random.js';
import { errorText } from '../../test/helpers/quant-error.js';

const f32 = Math.fround;

describe('lsqBackward: hand-derived values', () => {
  // s = 0.5, zeroPoint 1.2 → z = 1, codes 0..7.
  const params: LsqParams = { scale: new Float32Array([0.5]), zeroPoint: new Float32Array([1.2]), qmin: 0, qmax: 7 };
  const x = new Float32Array([0.3, -1, 5]);
  const dY = new Float32Array([1, 1, 1]);

  it('gives dX, dScale and dZeroPoint of the LSQ formulas', () => {
    // 0.3: q = round(0.6) + 1 = 2 inside, x̂ = 0.5, ∂/∂s = (0.5 − 0.3) / 0.5 = 0.4, ∂/∂z = 0.
    // −1:  q = −2 + 1 = −1 below, ∂/∂s = qmin − z = −1, ∂/∂z = −s = −0.5, dX 0.
    // 5:   q = 10 + 1 = 11 above, ∂/∂s = qmax − z = 6, ∂/∂z = −0.5, dX 0.
    expect(Array.from(lsqFakeQuantize(x, [3], params))).toEqual([0.5, -0.5, 3]);
    const g = lsqBackward(dY, x, [3], params);
    expect(Array.from(g.dX)).toEqual([1, 0, 0]);
    expect(g.dScale[0]).toBe(f32(f32(f32(0.5 - f32(0.3)) * 2) - 1 + 6));
    expect(g.dScale[0]).toBeCloseTo(5.4, 6);
    expect(Array.from(g.dZeroPoint)).toEqual([-1]);
  });

  it('scales the parameter gradients (not dX) by gradFactor and weights by dY', () => {
    const g = lsqBackward(new Float32Array([2, -1, 0.5]), x, [3], params, { gradFactor: 0.25 });
    expect(Array.from(g.dX)).toEqual([2, -0, 0]);
    expect(g.dScale[0]).toBeCloseTo((2 * 0.4 + -1 * -1 + 0.5 * 6) * 0.25, 6);
    expect(g.dZeroPoint[0]).toBeCloseTo((-1 * -0.5 + 0.5 * -0.5) * 0.25, 7);
  });

  it('computes lsqGradFactor = 1 / sqrt(numel * qmax)', () => {
    expect(lsqGradFactor(1024, 7)).toBe(1 / Math.sqrt(7168));
    expect(errorText(() => lsqGradFactor(0, 7))).toMatch(/^INVALID_ARGUMENT: .*numel 0/);
    expect(errorText(() => lsqGradFactor(4, 0))).toMatch(/qmax 0/);
  });

  it('sums per channel along the axis', () => {
    // shape [2, 3], channels along axis 1: channel c sees x[0][c] and x[1][c].
    const p: LsqParams = { scale: new Float32Array([1, 0.25, 2]), zeroPoint: new Float32Array([0, 0, 0]), qmin: -4, qmax: 3, axis: 1 };
    const xs = new Float32Array([0.4, 0.3, 100, -0.4, -5, 1.5]);
    const g = lsqBackward(new Float32Array(6).fill(1), xs, [2, 3], p);
    // c0: 0.4 → q 0, ∂s = −0.4; −0.4 → q 0, ∂s = 0.4. c1: 0.3 → q 1, ∂s = (0.25 − 0.3)/0.25 = −0.2;
    // −5 → q −20 below, ∂s = −4, ∂z = −0.25. c2: 100 → above, ∂s = 3, ∂z = −2; 1.5 → q round(0.75) = 1, ∂s = (2 − 1.5)/2 = 0.25.
    expect(g.dScale[0]).toBeCloseTo(0, 6);
    expect(g.dScale[1]).toBeCloseTo(-4.2, 6);
    expect(g.dScale[2]).toBeCloseTo(3.25, 6);
    expect(Array.from(g.dZeroPoint)).toEqual([0, -0.25, -2]);
    expect(Array.from(g.dX)).toEqual([1, 1, 0, 1, 0, 1]);
    const neg = lsqBackward(new Float32Array(6).fill(1), xs, [2, 3], { ...p, axis: -1 });
    expect(neg.dScale).toEqual(g.dScale);
  });
});

describe('lsqFakeQuantize / lsqBackward consistency', () => {
  it('forward equals core fakeQuantize with the rounded zero point, bit for bit', () => {
    const rng = createRng(11);
    const x = Float32Array.from({ length: 60 }, () => (rng() - 0.5) * 40);
    const scale = new Float32Array([0.1, 0.07, 0.3]);
    const zeroPoint = new Float32Array([2.5, -3.5, 0.49]); // rounds half to even: 2, −4, 0
    const lsq = lsqFakeQuantize(x, [4, 3, 5], { scale, zeroPoint, qmin: -128, qmax: 127, axis: 1 });
    const params: QParams = {
      dtype: 'int8', symmetric: false, narrow: false, qmin: -128, qmax: 127,
      granularity: { kind: 'per-axis', axis: 1 }, paramShape: [3], scale, zeroPoint: new Int32Array([2, -4, 0]),
    };
    const core = fakeQuantize(x, [4, 3, 5], { params }).values;
    expect(new Uint32Array(lsq.buffer)).toEqual(new Uint32Array(core.buffer));
  });

  it('uses the forward\'s zero point in the backward, also for half-integer zero points (property)', () => {
    // PyTorch's per-tensor backward would take zeroPoint 2.5 as 3 while its forward takes 2.
    fc.assert(
      fc.property(fc.float({ min: -20, max: 20, noNaN: true }), fc.constantFrom(2.5, -1.5, 0.5, 3.2), (v, zp) => {
        const p: LsqParams = { scale: new Float32Array([0.3]), zeroPoint: new Float32Array([zp]), qmin: -8, qmax: 7 };
        const x = new Float32Array([v]);
        const xhat = lsqFakeQuantize(x, [1], p)[0];
        const g = lsqBackward(new Float32Array([1]), x, [1], p);
        if (g.dX[0] === 0) return true;
        return g.dScale[0] === f32(f32(f32(xhat - v)) * f32(1 / 0.3)) && g.dZeroPoint[0] === 0;
      }),
      { seed: 5, numRuns: 300 },
    );
  });
});

describe('lsqBackward against central finite differences', () => {
  // The forward is a staircase in x, s and z: finite differences of it are 0 or blow up across a
  // step, never the LSQ gradient, which treats round() as the identity for differentiation. LSQ's
  // gradient is the exact derivative of the smoothed forward with each element's rounding offset
  // frozen at the base point, x̂ = (clamp(x/s + δ + z, qmin, qmax) − z)·s with δ = round(x0/s0) − x0/s0.
  // That surrogate is piecewise linear with corners only where an element's code is exactly qmin
  // or qmax, so it is differentiated by central differences (float64) at data kept off those codes.
  const qmin = -8;
  const qmax = 7;
  const shape = [3, 2, 4]; // channels along axis 1
  const rng = createRng(99);
  const scale = new Float32Array([0.2, 0.45]);
  const zeroPoint = new Float32Array([1, -2]);
  const ch = (g: number) => Math.floor(g / 4) % 2;
  const code = (v: number, c: number) => Math.round(f32(v / scale[c])) + zeroPoint[c];
  const xs: number[] = [];
  while (xs.length < 24) {
    const v = f32((rng() - 0.5) * 8);
    const q = code(v, ch(xs.length));
    if (q !== qmin && q !== qmax && Math.abs(f32(v / scale[ch(xs.length)]) % 1) !== 0.5) xs.push(v);
  }
  const x = Float32Array.from(xs);
  const dY = Float32Array.from({ length: 24 }, () => f32(rng() * 2 - 1));
  const delta = xs.map((v, g) => Math.round(v / scale[ch(g)]) - v / scale[ch(g)]);
  const loss = (xv: number[], s: number[], z: number[]) =>
    xv.reduce((acc, v, g) => {
      const c = ch(g);
      const u = Math.min(Math.max(v / s[c] + delta[g] + z[c], qmin), qmax);
      return acc + dY[g] * (u - z[c]) * s[c];
    }, 0);
  const gradFactor = 0.25;
  const got = lsqBackward(dY, x, shape, { scale, zeroPoint, qmin, qmax, axis: 1 }, { gradFactor });
  const h = 1e-6;
  const s0 = Array.from(scale);
  const z0 = Array.from(zeroPoint);

  it('has both inside and clipped elements in the data', () => {
    expect(got.dX.some((d) => d === 0)).toBe(true);
    expect(got.dX.some((d) => d !== 0)).toBe(true);
  });

  it('matches for dScale and dZeroPoint (divided by gradFactor)', () => {
    for (let c = 0; c < 2; c++) {
      const sp = [...s0];
      const sm = [...s0];
      sp[c] += h;
      sm[c] -= h;
      expect(got.dScale[c] / gradFactor).toBeCloseTo((loss(xs, sp, z0) - loss(xs, sm, z0)) / (2 * h), 4);
      const zp = [...z0];
      const zm = [...z0];
      zp[c] += h;
      zm[c] -= h;
      expect(got.dZeroPoint[c] / gradFactor).toBeCloseTo((loss(xs, s0, zp) - loss(xs, s0, zm)) / (2 * h), 4);
    }
  });

  it('matches for dX', () => {
    for (let g = 0; g < xs.length; g++) {
      const xp = [...xs];
      const xm = [...xs];
      xp[g] += h;
      xm[g] -= h;
      expect(got.dX[g]).toBeCloseTo((loss(xp, s0, z0) - loss(xm, s0, z0)) / (2 * h), 4);
    }
  });
});

describe('lsq bad input', () => {
  const p: LsqParams = { scale: new Float32Array([0.5]), zeroPoint: new Float32Array([0]), qmin: -8, qmax: 7 };
  const x = new Float32Array([1, 2]);
  it('names what was expected and what was received', () => {
    expect(errorText(() => lsqFakeQuantize(x, [2], { ...p, scale: new Float32Array([0]) }))).toMatch(/^INVALID_PARAMS: scale\[0\] must be finite and > 0, got 0/);
    expect(errorText(() => lsqFakeQuantize(x, [2], { ...p, scale: new Float32Array([NaN]) }))).toMatch(/got NaN/);
    expect(errorText(() => lsqFakeQuantize(x, [2], { ...p, scale: new Float32Array([Infinity]) }))).toMatch(/got Infinity/);
    expect(errorText(() => lsqFakeQuantize(x, [2], { ...p, zeroPoint: new Float32Array([NaN]) }))).toMatch(/^INVALID_PARAMS: zeroPoint\[0\] must be finite/);
    expect(errorText(() => lsqFakeQuantize(x, [2], { ...p, qmin: 7, qmax: 7 }))).toMatch(/^INVALID_PARAMS: .*qmin < qmax, got 7 and 7/);
    expect(errorText(() => lsqFakeQuantize(x, [2], { ...p, qmin: 0.5 }))).toMatch(/^INVALID_PARAMS/);
    expect(errorText(() => lsqFakeQuantize(x, [3], p))).toMatch(/^SHAPE_MISMATCH: shape \[3\] has 3 elements but the data has 2/);
    expect(errorText(() => lsqFakeQuantize(x, [1, 2], { ...p, axis: 1 }))).toMatch(/^SHAPE_MISMATCH: expected 2 scales and zero points along axis 1, got 1 and 1/);
    expect(errorText(() => lsqFakeQuantize(x, [2], { ...p, axis: 1 }))).toMatch(/^AXIS_OUT_OF_RANGE/);
    expect(errorText(() => lsqFakeQuantize(new Float32Array([NaN, 0]), [2], p))).toMatch(/^NAN_INPUT: .*index 0/);
    expect(errorText(() => lsqFakeQuantize(x, [2], p, new Float32Array(1)))).toMatch(/^SHAPE_MISMATCH: output has 1/);
    expect(errorText(() => lsqBackward(new Float32Array(3), x, [2], p))).toMatch(/^SHAPE_MISMATCH: gradient has 3 elements but x has 2/);
    expect(errorText(() => lsqBackward(new Float32Array(2), x, [2], p, { gradFactor: NaN }))).toMatch(/^INVALID_ARGUMENT: gradFactor must be finite/);
    expect(errorText(() => lsqBackward(new Float32Array(2), new Float32Array([0, NaN]), [2], p))).toMatch(/^NAN_INPUT: .*index 1/);
  });
});
