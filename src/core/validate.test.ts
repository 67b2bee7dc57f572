import { describe, expect, it } from 'vitest';
import { quantError } from '../../test/helpers/quant-error.js';
import { assertFinite } from './validate.js';

describe('assertFinite', () => {
  it('passes finite values, including -0 and the largest float64', () => {
    expect(() => assertFinite(new Float64Array([0, -0, 1e-308, -Number.MAX_VALUE, Number.MAX_VALUE]), 'input')).not.toThrow();
    expect(() => assertFinite(new Float32Array(0), 'input')).not.toThrow();
  });

  it('names the first NaN or infinity, its kind and its index', () => {
    const nan = quantError(() => assertFinite(new Float32Array([1, 2, NaN, Infinity]), 'weight'));
    expect(nan.code).toBe('NAN_INPUT');
    expect(nan.message).toBe('weight element 2 is NaN: expected finite values');
    expect(nan.details).toEqual({ index: 2 });
    const inf = quantError(() => assertFinite([0, -Infinity, NaN], 'drift'));
    expect(inf.code).toBe('INF_INPUT');
    expect(inf.message).toBe('drift element 1 is -Infinity: expected finite values');
  });
});
