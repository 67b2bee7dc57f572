import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { createRng } from '../random.js';
import { dequantize } from '../quantize.js';
import { hessianAccumulator } from './hessian-accumulator.js';
import { quantizeWeightGptq } from './quantize-weight-gptq.js';
import { rtnQuantizeBlocks } from './rtn-quantize-blocks.js';

function gaussian(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  return out;
}

/** x = z·A: inputs whose channels are strongly correlated (every channel mixes a few shared factors). */
function correlatedInputs(n: number, cols: number, seed: number): Float32Array {
  const factors = 4;
  const z = gaussian(n * factors, seed);
  const a = gaussian(factors * cols, seed + 1);
  const noise = gaussian(n * cols, seed + 2);
  const x = new Float32Array(n * cols);
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < cols; j++) {
      let v = 0.1 * noise[t * cols + j];
      for (let f = 0; f < factors; f++) v += z[t * factors + f] * a[f * cols + j];
      x[t * cols + j] = v;
    }
  }
  return x;
}

/** Σ ((Ŵ − W)·x)² over inputs and rows. */
function outputError(w: Float32Array, wq: Float32Array, x: Float32Array, rows: number, cols: number): number {
  let sum = 0;
  for (let t = 0; t < x.length / cols; t++) {
    for (let r = 0; r < rows; r++) {
      let y = 0;
      for (let j = 0; j < cols; j++) y += (wq[r * cols + j] - w[r * cols + j]) * x[t * cols + j];
      sum += y * y;
    }
  }
  return sum;
}

function diagonalHessian(cols: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const h = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) h[i * cols + i] = 0.1 + rng() * 5;
  return h;
}

describe('quantizeWeightGptq', () => {
  it.each([
    { bits: 4, blockSize: 16, symmetric: false, actOrder: false, lazyBatch: 128 },
    { bits: 3, blockSize: 8, symmetric: true, actOrder: false, lazyBatch: 5 },
    { bits: 2, blockSize: 32, symmetric: false, actOrder: true, lazyBatch: 7 },
    { bits: 8, blockSize: 12, symmetric: true, actOrder: true, lazyBatch: 16 },
  ])('equals RTN exactly under a diagonal Hessian (%o)', (o) => {
    const rows = 9;
    const cols = 40;
    const w = gaussian(rows * cols, 3);
    const rtn = rtnQuantizeBlocks(w, [rows, cols], o);
    const g = quantizeWeightGptq(w, [rows, cols], diagonalHessian(cols, 5), o);
    expect(Array.from(g.codes)).toEqual(Array.from(rtn.codes));
    expect(Array.from(g.scales)).toEqual(Array.from(rtn.scales));
    expect(Array.from(g.zeroPoints)).toEqual(Array.from(rtn.zeroPoints));
  });

  it.each([
    { bits: 4, symmetric: false },
    { bits: 3, symmetric: true },
  ])('cuts the output error on correlated inputs to at most 0.7x RTN (%o)', ({ bits, symmetric }) => {
    const rows = 32;
    const cols = 64;
    const n = 256;
    const w = gaussian(rows * cols, 11);
    const x = correlatedInputs(n, cols, 20);
    const acc = hessianAccumulator(cols);
    acc.add(x, n);
    const opts = { bits, blockSize: 16, symmetric, dequantize: true };
    const rtn = outputError(w, rtnQuantizeBlocks(w, [rows, cols], opts).dequantized!, x, rows, cols);
    const gptq = outputError(w, quantizeWeightGptq(w, [rows, cols], acc.hessian(), opts).dequantized!, x, rows, cols);
    const gptqAct = outputError(w, quantizeWeightGptq(w, [rows, cols], acc.hessian(), { ...opts, actOrder: true }).dequantized!, x, rows, cols);
    expect(gptq / rtn).toBeLessThanOrEqual(0.7);
    expect(gptqAct / rtn).toBeLessThanOrEqual(0.7);
  });

  it('zeroes the weights of dead inputs (H_ii = 0) and still quantizes the rest', () => {
    const rows = 4;
    const cols = 8;
    const w = gaussian(rows * cols, 1);
    const h = diagonalHessian(cols, 2);
    h[3 * cols + 3] = 0;
    const r = quantizeWeightGptq(w, [rows, cols], h, { bits: 4, blockSize: 8, dequantize: true });
    for (let i = 0; i < rows; i++) expect(r.dequantized![i * cols + 3]).toBe(0);
    const alive = rtnQuantizeBlocks(w, [rows, cols], { bits: 4, blockSize: 8, dequantize: true });
    expect(r.dequantized![1]).not.toBe(0);
    expect(alive.dequantized![3]).not.toBe(0);
  });

  it('returns parameters that dequantize() reads as the result says', () => {
    const w = gaussian(6 * 20, 4);
    const acc = hessianAccumulator(20);
    acc.add(correlatedInputs(64, 20, 8), 64);
    const r = quantizeWeightGptq(w, [6, 20], acc.hessian(), { bits: 4, blockSize: 8, dequantize: true });
    expect(Array.from(dequantize(r.codes, [6, 20], r.params))).toEqual(Array.from(r.dequantized!));
  });

  it('rejects a Hessian of the wrong size, bad options and a non-positive-definite matrix', () => {
    const w = gaussian(8, 1);
    expectQuantError(() => quantizeWeightGptq(w, [2, 4], new Float64Array(9), { bits: 4, blockSize: 4 }), 'SHAPE_MISMATCH', /\[4, 4\] Hessian/);
    expectQuantError(() => quantizeWeightGptq(w, [2, 4], diagonalHessian(4, 1), { bits: 4, blockSize: 4, damp: -1 }), 'INVALID_ARGUMENT', /damp/);
    expectQuantError(() => quantizeWeightGptq(w, [2, 4], diagonalHessian(4, 1), { bits: 4, blockSize: 4, lazyBatch: 0 }), 'INVALID_ARGUMENT', /lazyBatch/);
    expectQuantError(() => quantizeWeightGptq(w, [2, 4], diagonalHessian(4, 1), { bits: 9, blockSize: 4 }), 'INVALID_ARGUMENT', /bits/);
    const h = diagonalHessian(4, 1);
    h[0] = -50;
    expectQuantError(() => quantizeWeightGptq(w, [2, 4], h, { bits: 4, blockSize: 4, damp: 0 }), 'INVALID_ARGUMENT', /not positive definite/);
    expectQuantError(() => quantizeWeightGptq(w, [2, 4], hessianAccumulator(4).hessian(), { bits: 4, blockSize: 4 }), 'NOT_CALIBRATED', /all zeros/);
    const nan = diagonalHessian(4, 1);
    nan[5] = NaN;
    expectQuantError(() => quantizeWeightGptq(w, [2, 4], nan, { bits: 4, blockSize: 4 }), 'NAN_INPUT', /Hessian element 5/);
  });

  it('keeps codes in range and every array in its shape for any shape, width and options', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 2, max: 8 }),
        fc.integer({ min: 1, max: 10 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 9 }),
        fc.integer(),
        (rows, cols, bits, blockSize, symmetric, signed, actOrder, lazyBatch, seed) => {
          const w = gaussian(rows * cols, seed);
          const acc = hessianAccumulator(cols);
          acc.add(correlatedInputs(8, cols, seed), 8);
          const r = quantizeWeightGptq(w, [rows, cols], acc.hessian(), { bits, blockSize, symmetric, signed, actOrder, lazyBatch, dequantize: true });
          const nBlocks = Math.ceil(cols / blockSize);
          expect(r.codes.length).toBe(rows * cols);
          expect(r.scales.length).toBe(rows * nBlocks);
          expect(r.zeroPoints.length).toBe(rows * nBlocks);
          expect(r.dequantized!.length).toBe(rows * cols);
          expect(r.codes).toBeInstanceOf(signed ? Int8Array : Uint8Array);
          expect(r.codes.every((q) => q >= r.params.qmin && q <= r.params.qmax)).toBe(true);
          expect(r.dequantized!.every((v) => Number.isFinite(v))).toBe(true);
        },
      ),
      { seed: 14, numRuns: 100 },
    );
  });
});
