import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { createRng } from '../random.js';
import { applyAwqScales, awqCandidate, awqScales } from './awq-scales.js';
import { rtnQuantizeBlocks } from './rtn-quantize-blocks.js';

function gaussian(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
}

function meanAbs(x: Float32Array, cols: number): Float32Array {
  const m = new Float32Array(cols);
  const n = x.length / cols;
  for (let j = 0; j < cols; j++) {
    let s = 0;
    for (let t = 0; t < n; t++) s += Math.abs(x[t * cols + j]);
    m[j] = s / n;
  }
  return m;
}

/** Inputs whose channel `hot` is `gain` times larger than the rest (a salient channel). */
function salientInputs(n: number, cols: number, hot: number, gain: number, seed: number): Float32Array {
  const x = gaussian(n * cols, seed);
  for (let t = 0; t < n; t++) x[t * cols + hot] *= gain;
  return x;
}

function outputError(w: Float32Array, wq: Float32Array, x: Float32Array, rows: number, cols: number): number {
  let sum = 0;
  for (let t = 0; t < x.length / cols; t++) for (let r = 0; r < rows; r++) {
    let y = 0;
    for (let j = 0; j < cols; j++) y += (wq[r * cols + j] - w[r * cols + j]) * x[t * cols + j];
    sum += y * y;
  }
  return sum;
}

describe('awqScales', () => {
  const rows = 16;
  const cols = 32;
  const w = gaussian(rows * cols, 1);
  const x = salientInputs(64, cols, 5, 30, 2);
  const m = meanAbs(x, cols);

  it.each([{ inputs: true }, { inputs: false }])('gives a dominant input channel the largest scale, with α > 0 (%o)', ({ inputs }) => {
    const r = awqScales(w, [rows, cols], m, { bits: 3, blockSize: 16, ...(inputs ? { inputs: x } : {}) });
    expect(r.alpha).toBeGreaterThan(0);
    const others = Array.from(r.scales).filter((_, j) => j !== 5);
    expect(r.scales[5]).toBeGreaterThan(Math.max(...others));
    expect(r.error).toBe(Math.min(...r.errors));
    expect(r.errors.length).toBe(20);
  });

  it('quantizes W·diag(s) so that the layer fed x / s has a smaller output error than RTN', () => {
    const { scales } = awqScales(w, [rows, cols], m, { bits: 3, blockSize: 16, inputs: x });
    const q = applyAwqScales(w, [rows, cols], scales, { bits: 3, blockSize: 16, dequantize: true });
    const back = Float32Array.from(q.dequantized!, (v, i) => v / scales[i % cols]);
    const rtn = rtnQuantizeBlocks(w, [rows, cols], { bits: 3, blockSize: 16, dequantize: true }).dequantized!;
    expect(outputError(w, back, x, rows, cols)).toBeLessThan(outputError(w, rtn, x, rows, cols));
    // What is stored is the scaled weight's RTN.
    const scaled = Float32Array.from(w, (v, i) => v * scales[i % cols]);
    expect(Array.from(q.codes)).toEqual(Array.from(rtnQuantizeBlocks(scaled, [rows, cols], { bits: 3, blockSize: 16 }).codes));
  });

  it('normalizes candidates by sqrt(max·min) and floors them at 1e-4 first', () => {
    const s = awqCandidate(new Float32Array([4, 1, 0]), 0.5);
    // raw = [2, 1, 1e-4], norm = sqrt(2e-4)
    const norm = Math.sqrt(2e-4);
    expect(Array.from(s)).toEqual([Math.fround(2 / norm), Math.fround(1 / norm), Math.fround(1e-4 / norm)]);
    expect(Array.from(awqCandidate(new Float32Array([4, 1]), 0))).toEqual([1, 1]);
  });

  it('rejects mismatched activations, inputs and scales', () => {
    expectQuantError(() => awqScales(w, [rows, cols], new Float32Array(3), { bits: 4, blockSize: 16 }), 'SHAPE_MISMATCH', /32 activation means/);
    expectQuantError(() => awqScales(w, [rows, cols], m, { bits: 4, blockSize: 16, inputs: new Float32Array(33) }), 'SHAPE_MISMATCH', /\[n, 32\]/);
    expectQuantError(() => awqScales(w, [rows, cols], m, { bits: 4, blockSize: 16, grid: 0 }), 'INVALID_ARGUMENT', /grid/);
    const neg = m.slice();
    neg[2] = -1;
    expectQuantError(() => awqScales(w, [rows, cols], neg, { bits: 4, blockSize: 16 }), 'INVALID_ARGUMENT', /activation mean 2/);
    expectQuantError(() => applyAwqScales(w, [rows, cols], new Float32Array(cols), { bits: 4, blockSize: 16 }), 'INVALID_ARGUMENT', /scale 0 is 0/);
  });
});
