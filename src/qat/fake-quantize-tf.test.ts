import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getQuantDtype } from '../core/dtypes.js';
import { lsqBackward, lsqFakeQuantize } from '../core/lsq.js';
import type { QParams } from '../core/qparams.js';
import { fakeQuantize } from '../core/quantize.js';
import { createRng } from '../core/random.js';
import { fakeQuantizeBackward, fakeQuantizeWithGrad } from '../core/ste.js';
import { fakeQuantizeLsq, fakeQuantizeSte } from './fake-quantize-tf.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Random values with many exact rounding ties (x / scale = k + ½ exactly) and clamped ones. */
function sample(seed: number, shape: number[], scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number): Float32Array {
  const rng = createRng(seed);
  const c = shape[shape.length - 1]!;
  const n = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = scale.length === 1 ? 0 : i % c;
    const k = Math.floor(rng() * (qmax - qmin + 6)) + qmin - 3 - zeroPoint[p]!;
    const r = rng();
    x[i] = r < 0.4 ? Math.fround((k + 0.5) * scale[p]!) : r < 0.5 ? Math.fround(k * scale[p]!) : Math.fround((k + rng()) * scale[p]!);
  }
  return x;
}

function params(dtype: 'int4' | 'uint8' | 'int8', scale: Float32Array, zeroPoint: Int32Array, shape: number[]): QParams {
  const d = getQuantDtype(dtype);
  const perChannel = scale.length > 1;
  return {
    dtype,
    symmetric: false,
    narrow: false,
    qmin: d.qmin,
    qmax: d.qmax,
    granularity: perChannel ? { kind: 'per-axis', axis: shape.length - 1 } : { kind: 'per-tensor' },
    paramShape: perChannel ? [scale.length] : [],
    scale,
    zeroPoint,
  };
}

const CASES = [
  { name: 'per-tensor int4, power-of-two scale', dtype: 'int4' as const, shape: [4, 5, 6], scale: [0.25], zeroPoint: [-1] },
  { name: 'per-tensor uint8, arbitrary scale', dtype: 'uint8' as const, shape: [3, 70], scale: [0.0173], zeroPoint: [121] },
  { name: 'per-channel int8 (last axis)', dtype: 'int8' as const, shape: [2, 3, 3, 4], scale: [0.5, 0.013, 0.1, 3.7], zeroPoint: [0, 5, -7, 0] },
  { name: 'per-channel int4', dtype: 'int4' as const, shape: [9, 3], scale: [0.0625, 0.31, 0.007], zeroPoint: [0, 2, -3] },
];

describe('fakeQuantizeSte', () => {
  for (const c of CASES) {
    it(`equals the core's fakeQuantize bit for bit, ties included: ${c.name}`, () => {
      const scale = Float32Array.from(c.scale);
      const zeroPoint = Int32Array.from(c.zeroPoint);
      const p = params(c.dtype, scale, zeroPoint, c.shape);
      for (let seed = 1; seed <= 5; seed++) {
        const x = sample(seed, c.shape, scale, zeroPoint, p.qmin, p.qmax);
        const want = fakeQuantize(x, c.shape, { params: p }).values;
        const sShape = scale.length === 1 ? [] : [scale.length];
        const got = tf.tidy(() => fakeQuantizeSte(tf.tensor(x, c.shape), tf.tensor(scale, sShape), tf.tensor(Float32Array.from(zeroPoint), sShape), p.qmin, p.qmax).dataSync() as Float32Array);
        expect(bits(got)).toEqual(bits(want));
      }
    });

    it(`passes the gradient straight through where the code is in range, as the core's STE: ${c.name}`, () => {
      const scale = Float32Array.from(c.scale);
      const zeroPoint = Int32Array.from(c.zeroPoint);
      const p = params(c.dtype, scale, zeroPoint, c.shape);
      const x = sample(11, c.shape, scale, zeroPoint, p.qmin, p.qmax);
      const dy = sample(12, c.shape, scale, zeroPoint, p.qmin, p.qmax);
      const { mask } = fakeQuantizeWithGrad(x, c.shape, p);
      const want = fakeQuantizeBackward(dy, mask);
      expect(mask.some((m) => m === 0) && mask.some((m) => m === 1)).toBe(true);
      const sShape = scale.length === 1 ? [] : [scale.length];
      const got = tf.tidy(() => {
        const g = tf.grad((t: tf.Tensor) => tf.mul(fakeQuantizeSte(t, tf.tensor(scale, sShape), tf.tensor(Float32Array.from(zeroPoint), sShape), p.qmin, p.qmax), tf.tensor(dy, c.shape)).sum());
        return g(tf.tensor(x, c.shape)).dataSync() as Float32Array;
      });
      expect(bits(got)).toEqual(bits(want));
    });
  }
});

describe('fakeQuantizeLsq', () => {
  for (const c of CASES) {
    it(`runs the core's LSQ forward bit for bit and its backward (LSQ gradient scale): ${c.name}`, () => {
      const scale = Float32Array.from(c.scale);
      // Learned zero points are floats: the forward rounds them half to even (2.5 → 2).
      const zeroPoint = Float32Array.from(c.zeroPoint, (z, i) => z + (i % 2 ? 0.5 : 0.25));
      const d = getQuantDtype(c.dtype);
      const lsq = { scale, zeroPoint, qmin: d.qmin, qmax: d.qmax, axis: scale.length > 1 ? c.shape.length - 1 : undefined };
      const x = sample(21, c.shape, scale, Int32Array.from(c.zeroPoint), d.qmin, d.qmax);
      const dy = sample(22, c.shape, scale, Int32Array.from(c.zeroPoint), d.qmin, d.qmax);
      const factor = 1 / Math.sqrt(x.length * d.qmax);
      const want = lsqFakeQuantize(x, c.shape, lsq);
      const wantGrad = lsqBackward(dy, x, c.shape, lsq, { gradFactor: factor });
      const [value, dx, ds, dz] = tf.tidy(() => {
        const f = (t: tf.Tensor, s: tf.Tensor, z: tf.Tensor) => fakeQuantizeLsq(t, s, z, d.qmin, d.qmax, factor);
        const args = [tf.tensor(x, c.shape), tf.tensor(scale), tf.tensor(zeroPoint)];
        const g = tf.grads((t: tf.Tensor, s: tf.Tensor, z: tf.Tensor) => tf.mul(f(t, s, z), tf.tensor(dy, c.shape)).sum())(args);
        return [f(args[0]!, args[1]!, args[2]!), ...g].map((t) => t.dataSync() as Float32Array);
      });
      expect(bits(value!)).toEqual(bits(want));
      expect(bits(dx!)).toEqual(bits(wantGrad.dX));
      // Sums of float32 terms in another order: equal to float32 precision.
      for (let i = 0; i < scale.length; i++) {
        expect(ds![i]).toBeCloseTo(wantGrad.dScale[i]!, 4);
        expect(dz![i]).toBeCloseTo(wantGrad.dZeroPoint[i]!, 4);
      }
    });
  }
});
