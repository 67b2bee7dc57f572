import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { createRng } from '../random.js';
import { createGptqKernelsReference } from './gptq-kernels.js';
import { createGptqKernelsWasm, inverseCholeskyUpperWasm } from './gptq-kernels-wasm.js';
import { driftAccumulator } from './drift-accumulator.js';
import { hessianAccumulator } from './hessian-accumulator.js';
import { inverseCholeskyUpper } from './inverse-cholesky.js';
import { addFloatTarget, quantizeWeightGptq } from './quantize-weight-gptq.js';

function gaussian(n: number, rng: () => number): Float64Array {
  return Float64Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
}

/**
 * A GPTQ-like Hessian 2/N·XᵀX + λI from `samples` rows whose channels share a few factors, with a
 * channel scale spread over `decades` orders of magnitude (ill-conditioned as real activations
 * are) and `dead` channels that are always 0 (their row and column are 0 but for λ on the diagonal).
 */
function hessian(n: number, seed: number, samples: number, decades: number, dead: number): Float64Array {
  const rng = createRng(seed);
  const factors = Math.max(1, Math.floor(n / 4));
  const z = gaussian(samples * factors, rng);
  const a = gaussian(factors * n, rng);
  const scale = Float64Array.from({ length: n }, () => 10 ** (-decades * rng()));
  const deadSet = new Set(Array.from({ length: dead }, () => Math.floor(rng() * n)));
  const x = new Float64Array(samples * n);
  for (let s = 0; s < samples; s++) {
    for (let c = 0; c < n; c++) {
      if (deadSet.has(c)) continue;
      let v = 0.3 * gaussian(1, rng)[0]!;
      for (let f = 0; f < factors; f++) v += z[s * factors + f]! * a[f * n + c]!;
      x[s * n + c] = v * scale[c]!;
    }
  }
  const h = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) {
    let acc = 0;
    for (let s = 0; s < samples; s++) acc += x[s * n + i]! * x[s * n + j]!;
    h[i * n + j] = h[j * n + i] = (2 / samples) * acc;
  }
  let mean = 0;
  for (let i = 0; i < n; i++) mean += h[i * n + i]!;
  const lambda = (0.01 * mean) / n || 1;
  for (let i = 0; i < n; i++) h[i * n + i] += deadSet.has(i) ? 1 : lambda;
  return h;
}

const bits = (a: Float64Array): string[] => Array.from(a, (v) => (Object.is(v, -0) ? '-0' : String(v)));

describe('GPTQ WebAssembly kernels', () => {
  it('inverse Cholesky factor equals the TypeScript reference bit for bit: every size 1..40 and block boundary, ill-conditioned, dead columns', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 5 }), (n, seed, decades, dead) => {
        const h = hessian(n, seed, Math.max(2, Math.floor(n / 2)), decades, dead);
        const before = Float64Array.from(h);
        const want = inverseCholeskyUpper(h, n);
        const got = inverseCholeskyUpperWasm(h, n)!;
        expect(bits(got)).toEqual(bits(want));
        expect(bits(h)).toEqual(bits(before));
      }),
      { seed: 11, numRuns: 150 },
    );
  });

  it('inverse Cholesky factor equals the reference on larger matrices (odd and even n, past the 4-row blocks)', () => {
    for (const [n, seed] of [[130, 1], [257, 2], [300, 3]] as const) {
      const h = hessian(n, seed, 64, 6, 7);
      expect(bits(inverseCholeskyUpperWasm(h, n)!)).toEqual(bits(inverseCholeskyUpper(h, n)));
    }
  });

  it('refuses a matrix that is not positive definite with the reference error, naming the same pivot', () => {
    const h = new Float64Array([4, 0, 0, 0, 1, 2, 0, 2, 1]);
    expectQuantError(() => inverseCholeskyUpper(h, 3), 'INVALID_ARGUMENT', /pivot 1 is -3\)/);
    expectQuantError(() => inverseCholeskyUpperWasm(h, 3), 'INVALID_ARGUMENT', /pivot 1 is -3\)/);
  });

  it('column and lazy-batch updates equal the reference bit for bit (ragged rows, columns and batches)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 19 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (rows, cols, batch, seed) => {
        const rng = createRng(seed);
        const ref = createGptqKernelsReference(rows, cols, batch);
        const wasm = createGptqKernelsWasm(rows, cols, batch)!;
        const h = hessian(cols, seed, 8, 3, 2);
        ref.factor(h);
        wasm.factor(h);
        const w = gaussian(rows * cols, rng);
        ref.wk.set(w);
        wasm.wk.set(w);
        for (let i1 = 0; i1 < cols; i1 += batch) {
          const i2 = Math.min(cols, i1 + batch);
          const count = i2 - i1;
          const w1 = gaussian(rows * count, rng);
          ref.w1.set(w1);
          wasm.w1.set(w1);
          for (let i = 0; i < count; i++) {
            // Some rows without error: their columns must be left alone.
            for (let r = 0; r < rows; r++) ref.err[r * count + i] = wasm.err[r * count + i] = rng() < 0.2 ? 0 : gaussian(1, rng)[0]!;
            ref.columnUpdate(count, i, (i1 + i) * cols + i1);
            wasm.columnUpdate(count, i, (i1 + i) * cols + i1);
          }
          expect(bits(wasm.w1.subarray(0, rows * count))).toEqual(bits(ref.w1.subarray(0, rows * count)));
          ref.lazyUpdate(i1, i2);
          wasm.lazyUpdate(i1, i2);
        }
        expect(bits(wasm.wk)).toEqual(bits(ref.wk));
      }),
      { seed: 12, numRuns: 120 },
    );
  });

  it('quantizeWeightGptq gives the same codes, scales and zero points with either kernel, over many random layers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 2, max: 140 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom(2, 3, 4),
        fc.constantFrom(8, 16, 32),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 40 }),
        (rows, cols, seed, nbits, blockSize, actOrder, symmetric, lazyBatch) => {
          const rng = createRng(seed);
          const w = Float32Array.from(gaussian(rows * cols, rng), (v) => v * 0.05);
          const h = hessian(cols, seed, 16, 4, 3);
          // A dead input as the calibration leaves it: zero row and column, zero diagonal.
          const dead = Math.floor(rng() * cols);
          for (let i = 0; i < cols; i++) h[dead * cols + i] = h[i * cols + dead] = 0;
          const opts = { bits: nbits, blockSize, actOrder, symmetric, lazyBatch };
          const a = quantizeWeightGptq(w, [rows, cols], h, { ...opts, kernel: 'typescript' });
          const b = quantizeWeightGptq(w, [rows, cols], h, { ...opts, kernel: 'wasm' });
          expect(Array.from(b.codes)).toEqual(Array.from(a.codes));
          expect(Array.from(b.scales)).toEqual(Array.from(a.scales));
          expect(Array.from(b.zeroPoints)).toEqual(Array.from(a.zeroPoints));
        },
      ),
      { seed: 13, numRuns: 150 },
    );
  });

  it('Hessian accumulation equals the reference bit for bit over uneven batches (panel boundaries, ragged columns, zero rows)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 45 }), fc.array(fc.integer({ min: 0, max: 80 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (cols, batches, seed) => {
        const rng = createRng(seed);
        const ref = hessianAccumulator(cols, { kernel: 'typescript' });
        const wasm = hessianAccumulator(cols, { kernel: 'wasm' });
        for (const rows of batches) {
          const x = Float32Array.from(gaussian(rows * cols, rng), (v, i) => (i % 7 === 3 ? 0 : v * 10 ** Math.floor(rng() * 6 - 3)));
          ref.add(x, rows);
          wasm.add(x, rows);
        }
        expect(wasm.samples).toBe(ref.samples);
        expect(bits(wasm.hessian())).toEqual(bits(ref.hessian()));
        const other = hessianAccumulator(cols);
        other.add(Float32Array.from(gaussian(3 * cols, rng)), 3);
        ref.merge(other);
        wasm.merge(other);
        expect(bits(wasm.hessian())).toEqual(bits(ref.hessian()));
      }),
      { seed: 14, numRuns: 120 },
    );
  });

  it('drift accumulation equals the reference bit for bit over uneven batches (panel boundaries, ragged columns, channels that do not drift)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 45 }), fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (cols, batches, seed) => {
        const rng = createRng(seed);
        const ref = driftAccumulator(cols, { kernel: 'typescript' });
        const wasm = driftAccumulator(cols, { kernel: 'wasm' });
        // Whole blocks of four channels and single channels that never drift: the kernels skip those blocks.
        const still = (c: number): boolean => Math.floor(c / 4) % 3 === 1 || c % 5 === 2;
        for (const rows of batches) {
          const q = Float32Array.from(gaussian(rows * cols, rng), (v, i) => (i % 7 === 3 ? 0 : v * 10 ** Math.floor(rng() * 6 - 3)));
          const f = Float32Array.from(q, (v, i) => (still(i % cols) ? v : v + 0.1 * gaussian(1, rng)[0]! * 10 ** Math.floor(rng() * 4 - 2)));
          ref.add(q, f, rows);
          wasm.add(q, f, rows);
        }
        expect(wasm.samples).toBe(ref.samples);
        expect(bits(wasm.drift())).toEqual(bits(ref.drift()));
      }),
      { seed: 15, numRuns: 120 },
    );
  });

  it('the float-model target W + α·W·D·H⁻¹ equals the reference bit for bit, apart and inside the GPTQ kernels (row blocks, odd rows and columns, zero weights)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(1, 0.5, 0.25), (rows, cols, seed, share) => {
        const rng = createRng(seed);
        // Every fourth row all zero: its T is 0, which both skip, so its −0 entries stay −0.
        const w = Float32Array.from(gaussian(rows * cols, rng), (v, i) => (i % 5 === 1 || Math.floor(i / cols) % 4 === 2 ? 0 : v * 0.05));
        const h = hessian(cols, seed, 16, 3, 2);
        const drift = Float64Array.from(gaussian(cols * cols, rng), (v) => 0.01 * v);
        const ref = Float64Array.from(w, (v, i) => (i % 11 === 4 ? -0 : v));
        const wasm = Float64Array.from(ref);
        // The GPTQ kernels' own target (act order off: it reuses their factor of the same dampened H).
        const kernels = createGptqKernelsWasm(rows, cols, 1, true)!;
        kernels.wk.set(ref);
        addFloatTarget(ref, w, rows, cols, h, drift, share, 0.01, 'typescript');
        addFloatTarget(wasm, w, rows, cols, h, drift, share, 0.01, 'wasm');
        expect(bits(wasm)).toEqual(bits(ref));
        let mean = 0;
        for (let i = 0; i < cols; i++) mean += h[i * cols + i]!;
        const hd = Float64Array.from(h);
        for (let i = 0; i < cols; i++) hd[i * cols + i] += (0.01 * mean) / cols;
        kernels.factor(hd);
        kernels.addFloatTarget(w, drift, share);
        expect(bits(kernels.wk)).toEqual(bits(ref));
      }),
      { seed: 16, numRuns: 120 },
    );
  });

  it('quantizeWeightGptq fitted to the float model gives the same codes, scales and zero points with either kernel', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 2, max: 100 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(2, 3, 4), fc.boolean(), (rows, cols, seed, nbits, actOrder) => {
        const rng = createRng(seed);
        const w = Float32Array.from(gaussian(rows * cols, rng), (v) => v * 0.05);
        const h = hessian(cols, seed, 16, 3, 2);
        const drift = Float64Array.from(gaussian(cols * cols, rng), (v) => 0.01 * v);
        const opts = { bits: nbits, blockSize: 16, actOrder, drift, floatShare: 0.5 };
        const a = quantizeWeightGptq(w, [rows, cols], h, { ...opts, kernel: 'typescript' });
        const b = quantizeWeightGptq(w, [rows, cols], h, { ...opts, kernel: 'wasm' });
        expect(Array.from(b.codes)).toEqual(Array.from(a.codes));
        expect(Array.from(b.scales)).toEqual(Array.from(a.scales));
        expect(Array.from(b.zeroPoints)).toEqual(Array.from(a.zeroPoints));
      }),
      { seed: 17, numRuns: 100 },
    );
  });
});
