import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerFastTrainingKernels } from './fast-cpu-kernels.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** f's values with the backend's own kernels, then with the fast ones (restored after). */
function bothWays(f: () => tf.Tensor | tf.Tensor[]): [Float32Array[], Float32Array[]] {
  const run = () => tf.tidy(() => [f()].flat().map((t) => Float32Array.from(t.dataSync() as Float32Array)));
  const want = run();
  const restore = registerFastTrainingKernels();
  try {
    return [want, run()];
  } finally {
    restore();
  }
}

/** Values with repeats (ties for max pooling), signed zeros, infinities and a wide range. */
const value = fc.oneof(
  { weight: 6, arbitrary: fc.float({ min: -100, max: 100, noNaN: true }) },
  { weight: 2, arbitrary: fc.constantFrom(0, -0, 1, -1, 0.5, Infinity, -Infinity) },
);
const dims = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 });
const data = (n: number, seed: number) => {
  let s = seed >>> 0;
  const pick = [0, -0, 1, -1, 0.5, 3, -Infinity];
  return Float32Array.from({ length: n }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return i % 5 === 0 ? pick[s % pick.length]! : (s / 2 ** 32 - 0.5) * 20;
  });
};

/** A shape that broadcasts to `out`: some leading axes dropped, some axes set to 1. */
const broadcastable = (out: number[]) =>
  fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length })).map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));

describe('registerFastTrainingKernels', () => {
  it('Add, Sub, Multiply and RealDiv with broadcasting return the backend kernels\' float32 values bit for bit', () => {
    const ops = [tf.add, tf.sub, tf.mul, tf.div] as const;
    fc.assert(
      fc.property(
        dims.chain((out) => fc.tuple(fc.constant(out), broadcastable(out), broadcastable(out), fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.integer())),
        ([out, sa, sb, swap, opIndex, seed]) => {
          // Either side may be the broadcast one; both broadcast when neither is `out` itself.
          const [aShape, bShape] = swap ? [sa, sb] : [out, sa];
          const a = data(aShape.reduce((p, d) => p * d, 1), seed);
          const b = data(bShape.reduce((p, d) => p * d, 1), seed + 1);
          const [want, got] = bothWays(() => ops[opIndex]!(tf.tensor(a, aShape), tf.tensor(b, bShape)));
          expect(bits(got[0]!)).toEqual(bits(want[0]!));
        },
      ),
      { seed: 11, numRuns: 300 },
    );
  });

  it('leaves int32 arithmetic to the backend', () => {
    const [want, got] = bothWays(() => tf.cast(tf.add(tf.tensor([2 ** 30, 5], [2], 'int32'), tf.tensor([2 ** 30, -7], [2], 'int32')), 'float32'));
    expect(got).toEqual(want);
  });

  it('Sum and Mean over any axes equal the backend\'s double-precision sums bit for bit', () => {
    fc.assert(
      fc.property(
        dims.chain((shape) => fc.tuple(fc.constant(shape), fc.subarray(shape.map((_, i) => i), { minLength: 1 }), fc.boolean(), fc.integer(), fc.boolean())),
        ([shape, axes, keepDims, seed, useMean]) => {
          const x = data(shape.reduce((p, d) => p * d, 1), seed);
          const [want, got] = bothWays(() => {
            const t = tf.tensor(x, shape);
            const r = useMean ? tf.mean(t, axes, keepDims) : tf.sum(t, axes, keepDims);
            return [r, tf.tensor1d(r.shape.length ? r.shape : [0])];
          });
          expect(got[1]).toEqual(want[1]);
          expect(bits(got[0]!)).toEqual(bits(want[0]!));
        },
      ),
      { seed: 12, numRuns: 200 },
    );
  });

  it('Tile repeats float32 values as the backend does', () => {
    fc.assert(
      fc.property(dims.chain((shape) => fc.tuple(fc.constant(shape), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: shape.length, maxLength: shape.length }), fc.integer())), ([shape, reps, seed]) => {
        const x = data(shape.reduce((p, d) => p * d, 1), seed);
        const [want, got] = bothWays(() => {
          const r = tf.tile(tf.tensor(x, shape), reps);
          return [r, tf.tensor1d(r.shape)];
        });
        expect(got[1]).toEqual(want[1]);
        expect(bits(got[0]!)).toEqual(bits(want[0]!));
      }),
      { seed: 14, numRuns: 200 },
    );
  });

  it('sums many float32 terms as the backend does (the order and precision of the sum matter here)', () => {
    // 1e8 + many small values: a float32 accumulator would lose them, a different order would round differently.
    const x = Float32Array.from({ length: 4 * 9 * 3 }, (_, i) => (i % 7 === 0 ? 1e8 : 0.37 * (i % 11) - 1.1));
    const [want, got] = bothWays(() => [tf.sum(tf.tensor(x, [4, 9, 3]), [0, 1]), tf.mean(tf.tensor(x, [4, 9, 3]), [0, 1])]);
    expect(got.map(bits)).toEqual(want.map(bits));
  });

  it('MaxPoolGrad sends each window\'s gradient to its first maximum, as the backend does, ties and -Infinity included', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 3 })),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 2 }),
        fc.constantFrom('same' as const, 'valid' as const),
        fc.integer(),
        (shape, pool, stride, pad, seed) => {
          if (pad === 'valid' && (pool > shape[1] || pool > shape[2])) return;
          // Few distinct values, so windows often tie.
          const x = Float32Array.from(data(shape.reduce((p, d) => p * d, 1), seed), (v) => (Number.isFinite(v) ? Math.round(v / 5) : v));
          const [want, got] = bothWays(() => {
            const t = tf.tensor4d(x, shape);
            const out = tf.maxPool(t, pool, stride, pad);
            const dy = tf.tensor(data(out.size, seed + 7).map((v) => (Number.isFinite(v) ? v : 2)), out.shape);
            return tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(v as tf.Tensor4D, pool, stride, pad), dy)))(t);
          });
          expect(bits(got[0]!)).toEqual(bits(want[0]!));
        },
      ),
      { seed: 13, numRuns: 150 },
    );
  });

  it('restores the backend\'s kernels', () => {
    const before = ['Add', 'Sum', 'MaxPoolGrad', 'Conv2DBackpropFilter'].map((n) => tf.getKernel(n, 'cpu')?.kernelFunc);
    const restore = registerFastTrainingKernels();
    expect(tf.getKernel('Sum', 'cpu')?.kernelFunc).not.toBe(before[1]);
    restore();
    expect(['Add', 'Sum', 'MaxPoolGrad', 'Conv2DBackpropFilter'].map((n) => tf.getKernel(n, 'cpu')?.kernelFunc)).toEqual(before);
  });
});
