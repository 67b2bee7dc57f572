import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { createRng } from '../random.js';
import { hessianAccumulator } from './hessian-accumulator.js';

describe('hessianAccumulator', () => {
  it('is 2/N·XᵀX over every row added, symmetric, across uneven batches', () => {
    const cols = 5;
    const rng = createRng(3);
    const x = Float32Array.from({ length: 70 * cols }, () => rng() * 4 - 2);
    const acc = hessianAccumulator(cols);
    acc.add(x.subarray(0, 33 * cols), 33);
    acc.add(x.subarray(33 * cols, 33 * cols), 0);
    acc.add(x.subarray(33 * cols), 37);
    expect(acc.samples).toBe(70);
    const h = acc.hessian();
    for (let i = 0; i < cols; i++) {
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let t = 0; t < 70; t++) s += x[t * cols + i] * x[t * cols + j];
        expect(h[i * cols + j]).toBeCloseTo((2 / 70) * s, 12);
        expect(h[i * cols + j]).toBe(h[j * cols + i]);
      }
    }
  });

  it('merges accumulators of split calibration into the Hessian of all the rows', () => {
    const cols = 4;
    const rng = createRng(9);
    const x = Float32Array.from({ length: 50 * cols }, () => rng() * 2 - 1);
    const whole = hessianAccumulator(cols);
    whole.add(x, 50);
    const a = hessianAccumulator(cols);
    const b = hessianAccumulator(cols);
    a.add(x.subarray(0, 20 * cols), 20);
    b.add(x.subarray(20 * cols), 30);
    a.merge(b);
    a.merge(hessianAccumulator(cols));
    expect(a.samples).toBe(50);
    expect(b.samples).toBe(30);
    const h = a.hessian();
    whole.hessian().forEach((v, i) => expect(h[i]).toBeCloseTo(v, 12));
    expectQuantError(() => a.merge(hessianAccumulator(3)), 'SHAPE_MISMATCH', /3 inputs into one of 4/);
  });

  it('is all zeros before any row, and a fresh copy each time', () => {
    const acc = hessianAccumulator(3);
    expect(Array.from(acc.hessian())).toEqual(new Array(9).fill(0));
    acc.add(new Float32Array([1, 2, 3]), 1);
    const a = acc.hessian();
    a[0] = 99;
    expect(acc.hessian()[0]).toBe(2);
  });

  it('rejects a batch of the wrong size and non-finite inputs', () => {
    expectQuantError(() => hessianAccumulator(0), 'INVALID_ARGUMENT', /cols/);
    const acc = hessianAccumulator(3);
    expectQuantError(() => acc.add(new Float32Array(5), 2), 'SHAPE_MISMATCH', /2 rows of 3/);
    expectQuantError(() => acc.add(new Float32Array([0, NaN, 0]), 1), 'NAN_INPUT', /element 1/);
    expect(acc.samples).toBe(0);
  });
});
