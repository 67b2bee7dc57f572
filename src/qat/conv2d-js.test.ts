import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { conv2dJs, registerFastConv2dGradients } from './conv2d-js.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function randoms(seed: number, n: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // Exact zeros too: the loops skip zero inputs.
    return i % 6 === 0 ? 0 : s / 2 ** 32 - 0.5;
  });
}

/** |got − want| within float32 rounding of sums of `terms` products of this size. */
function expectClose(got: Float32Array, want: Float32Array, terms: number): void {
  expect(got.length).toBe(want.length);
  const tol = 1e-6 * terms;
  for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!), `element ${i}`).toBeLessThanOrEqual(tol);
}

const geometry = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 1, max: 7 }),
  w: fc.integer({ min: 1, max: 7 }),
  cin: fc.integer({ min: 1, max: 4 }),
  cout: fc.integer({ min: 1, max: 5 }),
  kh: fc.integer({ min: 1, max: 3 }),
  kw: fc.integer({ min: 1, max: 3 }),
  stride: fc.integer({ min: 1, max: 2 }),
  dilation: fc.integer({ min: 1, max: 2 }),
  padding: fc.constantFrom('same' as const, 'valid' as const),
  seed: fc.integer(),
});

describe('conv2dJs', () => {
  it('computes tf.conv2d and its input and filter gradients (strides, dilation, same/valid padding)', () => {
    fc.assert(
      fc.property(geometry, (g) => {
        const eh = (g.kh - 1) * g.dilation + 1;
        const ew = (g.kw - 1) * g.dilation + 1;
        if (g.padding === 'valid' && (eh > g.h || ew > g.w)) return;
        // tfjs refuses strides and dilation both above 1.
        const strides: [number, number] = g.dilation > 1 ? [1, 1] : [g.stride, g.stride];
        const dilation: [number, number] = [g.dilation, g.dilation];
        const x = tf.tensor4d(randoms(g.seed, g.n * g.h * g.w * g.cin), [g.n, g.h, g.w, g.cin]);
        const w = tf.tensor4d(randoms(g.seed + 1, g.kh * g.kw * g.cin * g.cout), [g.kh, g.kw, g.cin, g.cout]);
        const run = (f: (a: tf.Tensor4D, b: tf.Tensor4D) => tf.Tensor4D) =>
          tf.tidy(() => {
            const y = f(x, w);
            const dy = tf.tensor(randoms(g.seed + 2, y.size), y.shape);
            const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D), dy)))([x, w]);
            return [y, dx!, dw!].map((t) => Float32Array.from(t.dataSync() as Float32Array));
          });
        // tfjs has no gradients for a dilated conv2d: the reference spreads the filter over its
        // dilated extent (zeros between the taps, by a 0/1 matrix, so the filter gradient flows back).
        const spread = new Float32Array(eh * ew * g.kh * g.kw);
        for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) spread[(ky * g.dilation * ew + kx * g.dilation) * g.kh * g.kw + ky * g.kw + kx] = 1;
        const dilate = (b: tf.Tensor4D) => tf.reshape(tf.matMul(tf.tensor2d(spread, [eh * ew, g.kh * g.kw]), tf.reshape(b, [g.kh * g.kw, g.cin * g.cout])), [eh, ew, g.cin, g.cout]) as tf.Tensor4D;
        const want = run((a, b) => tf.conv2d(a, dilate(b), strides, g.padding));
        const got = run((a, b) => conv2dJs(a, b, strides, g.padding, dilation));
        const terms = g.n * g.h * g.w * g.kh * g.kw * g.cin * g.cout;
        for (let k = 0; k < 3; k++) expectClose(got[k]!, want[k]!, terms);
        tf.dispose([x, w]);
      }),
      { seed: 21, numRuns: 60 },
    );
  });
});

describe('registerFastConv2dGradients', () => {
  it("gives tf.conv2d's gradients the backend's values (to float32 rounding), and restores its kernels", () => {
    const x = tf.tensor4d(randoms(1, 2 * 9 * 8 * 3), [2, 9, 8, 3]);
    const w = tf.tensor4d(randoms(2, 3 * 3 * 3 * 4), [3, 3, 3, 4]);
    const grads = () =>
      tf.tidy(() => {
        const dy = tf.tensor(randoms(3, 2 * 5 * 4 * 4), [2, 5, 4, 4]);
        return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'), dy)))([x, w]).map((t) => Float32Array.from(t.dataSync() as Float32Array));
      });
    const before = tf.getKernel('Conv2DBackpropFilter', 'cpu')?.kernelFunc;
    const want = grads();
    const restore = registerFastConv2dGradients();
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')?.kernelFunc).not.toBe(before);
    const got = grads();
    restore();
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')?.kernelFunc).toBe(before);
    expectClose(got[0]!, want[0]!, 2 * 9 * 8 * 3 * 4);
    expectClose(got[1]!, want[1]!, 2 * 9 * 8 * 3 * 4);
  });
});
