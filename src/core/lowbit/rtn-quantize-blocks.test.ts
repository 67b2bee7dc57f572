import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { readFloat32, readTensor } from '../../formats/onnx/tensor.js';
import { quantizeForMatMulNBits } from '../../onnx/modes/weight-only/matmul-nbits.js';
import { getKernels } from '../kernels/index.js';
import { createRng } from '../random.js';
import { dequantize } from '../quantize.js';
import { rtnQuantizeBlocks } from './rtn-quantize-blocks.js';

function gaussian(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
}

describe('rtnQuantizeBlocks', () => {
  it.each([
    { dtype: 'int4', symmetric: false },
    { dtype: 'int4', symmetric: true },
    { dtype: 'uint4', symmetric: false },
    { dtype: 'int8', symmetric: true },
    { dtype: 'uint8', symmetric: false },
  ] as const)('writes what the MatMulNBits writer writes today (%o)', ({ dtype, symmetric }) => {
    // MatMulNBits holds W [K, N] as N rows of K: the low-bit layout is Wᵀ, rows = N, cols = K.
    const k = 64;
    const n = 6;
    const blockSize = 16;
    const w = gaussian(k * n, 9);
    const nbits = quantizeForMatMulNBits({ b: 'b', scales: 's', zeroPoints: 'z' }, w, k, n, dtype, symmetric, blockSize);
    const wt = new Float32Array(k * n);
    for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) wt[c * k + r] = w[r * n + c];
    const bits = dtype.endsWith('8') ? 8 : 4;
    const signed = dtype.startsWith('int');
    const r = rtnQuantizeBlocks(wt, [n, k], { bits, blockSize, symmetric, signed });
    const shift = signed ? 1 << (bits - 1) : 0;
    const stored = readTensor(nbits.b).values as Uint8Array;
    const unpacked = bits === 4 ? (() => {
      const out = new Uint8Array(n * k);
      getKernels().unpack(stored, 4, false, out);
      return out;
    })() : stored;
    expect(Array.from(r.codes, (q) => q + shift)).toEqual(Array.from(unpacked));
    expect(Array.from(r.scales)).toEqual(Array.from(readFloat32(nbits.scales)));
  });

  it('gives parameters dequantize() reads back to the returned dequantized values, last short block included', () => {
    const w = gaussian(3 * 21, 2);
    const r = rtnQuantizeBlocks(w, [3, 21], { bits: 3, blockSize: 8, dequantize: true });
    expect(r.scales.length).toBe(9);
    expect(Array.from(dequantize(r.codes, [3, 21], r.params))).toEqual(Array.from(r.dequantized!));
  });

  it('rejects bad shapes, widths, block sizes and non-finite weights with one-line errors', () => {
    const w = gaussian(8, 1);
    expectQuantError(() => rtnQuantizeBlocks(w, [8], { bits: 4, blockSize: 4 }), 'SHAPE_MISMATCH', /\[rows, cols\]/);
    expectQuantError(() => rtnQuantizeBlocks(w, [3, 3], { bits: 4, blockSize: 4 }), 'SHAPE_MISMATCH', /9 elements/);
    expectQuantError(() => rtnQuantizeBlocks(w, [2, 4], { bits: 1, blockSize: 4 }), 'INVALID_ARGUMENT', /2\.\.8/);
    expectQuantError(() => rtnQuantizeBlocks(w, [2, 4], { bits: 4, blockSize: 0 }), 'INVALID_BLOCK_SIZE');
    const bad = w.slice();
    bad[6] = Infinity;
    expectQuantError(() => rtnQuantizeBlocks(bad, [2, 4], { bits: 4, blockSize: 4 }), 'INF_INPUT', /element 6/);
    bad[6] = NaN;
    expectQuantError(() => rtnQuantizeBlocks(bad, [2, 4], { bits: 4, blockSize: 4 }), 'NAN_INPUT', /element 6/);
  });

  it('keeps codes and zero points in range and arrays in shape for any shape and width', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.boolean(), fc.integer(), (rows, cols, bits, blockSize, symmetric, signed, seed) => {
        const r = rtnQuantizeBlocks(gaussian(rows * cols, seed), [rows, cols], { bits, blockSize, symmetric, signed, dequantize: true });
        const nBlocks = Math.ceil(cols / blockSize);
        expect([r.codes.length, r.scales.length, r.zeroPoints.length, r.dequantized!.length]).toEqual([rows * cols, rows * nBlocks, rows * nBlocks, rows * cols]);
        expect([...r.codes, ...r.zeroPoints].every((q) => q >= r.params.qmin && q <= r.params.qmax)).toBe(true);
      }),
      { seed: 21, numRuns: 150 },
    );
  });
});
