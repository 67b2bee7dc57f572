import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { createRng } from '../random.js';
import { dequantize } from '../quantize.js';
import { rtnQuantizeBlocks } from './rtn-quantize-blocks.js';
import { searchQuantize } from './search-quantize.js';

function gaussian(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
}

function weightedPerBlock(w: Float32Array, wq: Float32Array, rows: number, cols: number, blockSize: number, imp?: Float32Array): number[] {
  const nb = Math.ceil(cols / blockSize);
  const out = new Array<number>(rows * nb).fill(0);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    const d = w[r * cols + c] - wq[r * cols + c];
    out[r * nb + Math.floor(c / blockSize)] += (imp ? imp[c] : 1) * d * d;
  }
  return out;
}

describe('searchQuantize', () => {
  it('is no worse than RTN in (importance-weighted) squared error on every block', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 2, max: 8 }),
        fc.integer({ min: 1, max: 24 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.integer(),
        (rows, cols, bits, blockSize, symmetric, signed, weighted, seed) => {
          const w = gaussian(rows * cols, seed);
          const importance = weighted ? Float32Array.from(gaussian(cols, seed + 1), (v) => v * v) : undefined;
          const r = searchQuantize(w, [rows, cols], { bits, blockSize, symmetric, signed, importance, dequantize: true });
          const rtn = rtnQuantizeBlocks(w, [rows, cols], { bits, blockSize, symmetric, signed, dequantize: true });
          const after = weightedPerBlock(w, r.dequantized!, rows, cols, blockSize, importance);
          const before = weightedPerBlock(w, rtn.dequantized!, rows, cols, blockSize, importance);
          expect(after.filter((e, i) => e > before[i] * (1 + 1e-12))).toEqual([]);
          expect([...r.codes, ...r.zeroPoints].every((q) => q >= r.params.qmin && q <= r.params.qmax)).toBe(true);
          expect(Array.from(dequantize(r.codes, [rows, cols], r.params))).toEqual(Array.from(r.dequantized!));
        },
      ),
      { seed: 41, numRuns: 80 },
    );
  });

  it('cuts the squared error of Gaussian weights at 3 bits clearly below RTN', () => {
    const rows = 16;
    const cols = 128;
    const w = gaussian(rows * cols, 7);
    const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
    const r = searchQuantize(w, [rows, cols], { bits: 3, blockSize: 32, dequantize: true });
    const rtn = rtnQuantizeBlocks(w, [rows, cols], { bits: 3, blockSize: 32, dequantize: true });
    expect(sum(weightedPerBlock(w, r.dequantized!, rows, cols, 32))).toBeLessThan(0.9 * sum(weightedPerBlock(w, rtn.dequantized!, rows, cols, 32)));
  });

  it('spends precision where the importance is: an important channel ends with a smaller error than without importance', () => {
    const rows = 32;
    const cols = 32;
    const w = gaussian(rows * cols, 8);
    const importance = new Float32Array(cols).fill(1);
    importance[3] = 1000;
    const err3 = (wq: Float32Array) => {
      let s = 0;
      for (let r = 0; r < rows; r++) s += (w[r * cols + 3] - wq[r * cols + 3]) ** 2;
      return s;
    };
    const plain = searchQuantize(w, [rows, cols], { bits: 3, blockSize: 32, dequantize: true });
    const weighted = searchQuantize(w, [rows, cols], { bits: 3, blockSize: 32, importance, dequantize: true });
    expect(err3(weighted.dequantized!)).toBeLessThan(0.5 * err3(plain.dequantized!));
  });

  it('rejects importances of the wrong length or sign', () => {
    const w = gaussian(8, 1);
    expectQuantError(() => searchQuantize(w, [2, 4], { bits: 4, blockSize: 4, importance: new Float32Array(3) }), 'SHAPE_MISMATCH', /4 importances/);
    expectQuantError(() => searchQuantize(w, [2, 4], { bits: 4, blockSize: 4, importance: new Float32Array([1, -1, 1, 1]) }), 'INVALID_ARGUMENT', /importance 1/);
    expectQuantError(() => searchQuantize(w, [2, 4], { bits: 4, blockSize: 4, steps: -1 }), 'INVALID_ARGUMENT', /steps/);
  });
});
