// GPTQ fitted to the float model (GptqOptions.drift, GPTAQ's asymmetric objective): the layer's
// input in the partly quantized model, x̃, has drifted from the float model's x; plain GPTQ fits
// Ŵx̃ to Wx̃, the float target to Wx. Values against numpy are in lowbit-golden.test.ts.
import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { createRng } from '../random.js';
import { driftAccumulator } from './drift-accumulator.js';
import { hessianAccumulator } from './hessian-accumulator.js';
import { quantizeWeightGptq } from './quantize-weight-gptq.js';

function gaussian(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
}

const rows = 16;
const cols = 48;
const n = 512;

/** x̃ correlated over channels, and x = x̃·(I + E) + noise: the float model's input, drifted systematically (what upstream quantization does) and at random. */
function problem(seed: number) {
  const z = gaussian(n * 6, seed);
  const a = gaussian(6 * cols, seed + 1);
  const noise = gaussian(n * cols, seed + 2);
  const e = gaussian(cols * cols, seed + 3);
  const xq = new Float32Array(n * cols);
  for (let t = 0; t < n; t++) for (let j = 0; j < cols; j++) {
    let v = 0.2 * noise[t * cols + j]!;
    for (let f = 0; f < 6; f++) v += z[t * 6 + f]! * a[f * cols + j]!;
    xq[t * cols + j] = v;
  }
  const x = new Float32Array(n * cols);
  for (let t = 0; t < n; t++) for (let j = 0; j < cols; j++) {
    let v = xq[t * cols + j]!;
    for (let i = 0; i < cols; i++) v += (0.3 / Math.sqrt(cols)) * xq[t * cols + i]! * e[i * cols + j]!;
    x[t * cols + j] = v;
  }
  const h = hessianAccumulator(cols, { kernel: 'typescript' });
  h.add(xq, n);
  const d = driftAccumulator(cols);
  d.add(xq, x, n);
  return { w: gaussian(rows * cols, seed + 4), xq, x, hessian: h.hessian(), drift: d.drift() };
}

/** Σ‖W·x − Ŵ·x̃‖² over the rows: the float model's output against the quantized layer's. */
function floatError(w: Float32Array, wq: Float32Array, x: Float32Array, xq: Float32Array): number {
  let sum = 0;
  for (let t = 0; t < n; t++) for (let r = 0; r < rows; r++) {
    let y = 0;
    for (let j = 0; j < cols; j++) y += w[r * cols + j]! * x[t * cols + j]! - wq[r * cols + j]! * xq[t * cols + j]!;
    sum += y * y;
  }
  return sum;
}

describe('GPTQ fitted to the float model', () => {
  const p = problem(7);
  const opts = { bits: 4, blockSize: 16, dequantize: true } as const;

  it('is plain GPTQ, bit for bit, with a zero drift or a zero share', () => {
    const plain = quantizeWeightGptq(p.w, [rows, cols], p.hessian, opts);
    for (const extra of [{ drift: new Float64Array(cols * cols) }, { drift: p.drift, floatShare: 0 }]) {
      const r = quantizeWeightGptq(p.w, [rows, cols], p.hessian, { ...opts, ...extra });
      expect(Array.from(r.codes)).toEqual(Array.from(plain.codes));
      expect(Array.from(r.scales)).toEqual(Array.from(plain.scales));
    }
  });

  it.each([false, true])('brings the layer closer to the float model, the more the larger its share (act order %s)', (actOrder) => {
    const err = (share: number) => floatError(p.w, quantizeWeightGptq(p.w, [rows, cols], p.hessian, { ...opts, actOrder, drift: p.drift, floatShare: share }).dequantized!, p.x, p.xq);
    const plain = floatError(p.w, quantizeWeightGptq(p.w, [rows, cols], p.hessian, { ...opts, actOrder }).dequantized!, p.x, p.xq);
    // The drift here is large next to 4-bit rounding: fitting it is most of the gain.
    expect(err(1) / plain).toBeLessThan(0.5);
    expect(err(1)).toBeLessThan(err(0.25));
    expect(err(0.25)).toBeLessThan(plain);
  });

  it('refuses a drift of the wrong shape, a non-finite drift and a share outside [0, 1]', () => {
    expectQuantError(() => quantizeWeightGptq(p.w, [rows, cols], p.hessian, { ...opts, drift: new Float64Array(cols) }), 'SHAPE_MISMATCH');
    const bad = Float64Array.from(p.drift);
    bad[5] = Number.NaN;
    expectQuantError(() => quantizeWeightGptq(p.w, [rows, cols], p.hessian, { ...opts, drift: bad }), 'NAN_INPUT');
    for (const floatShare of [-0.1, 1.5, Number.NaN]) expectQuantError(() => quantizeWeightGptq(p.w, [rows, cols], p.hessian, { ...opts, drift: p.drift, floatShare }), 'INVALID_ARGUMENT');
  });
});

describe('driftAccumulator', () => {
  it('is zero where the float model gives the same rows', () => {
    const x = gaussian(40 * 8, 3);
    const d = driftAccumulator(8);
    d.add(x, x, 40);
    expect(d.samples).toBe(40);
    expect(d.drift().every((v) => v === 0)).toBe(true);
  });

  it('refuses rows of the wrong length and non-finite values', () => {
    const d = driftAccumulator(4);
    expectQuantError(() => d.add(new Float32Array(8), new Float32Array(12), 2), 'SHAPE_MISMATCH');
    expectQuantError(() => d.add(new Float32Array(8), Float32Array.of(0, 0, 0, Infinity, 0, 0, 0, 0), 2), 'INF_INPUT');
    expectQuantError(() => driftAccumulator(0), 'INVALID_ARGUMENT');
    expect(d.samples).toBe(0);
  });
});
