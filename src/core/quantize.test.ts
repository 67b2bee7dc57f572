import { describe, expect, it } from 'vitest';
import { QUANT_DTYPE_NAMES } from './dtypes.js';
import type { QParams } from './qparams.js';
import { computeQParams, computeRange, dequantize, fakeQuantize, layoutForParams, qparamsFromRange, quantize } from './quantize.js';
import { blockLayout, PER_TENSOR } from './layout.js';
import { FLOAT32_EPS } from './round.js';
import { expectQuantError, quantError } from '../../test/helpers/quant-error.js';

const PER_AXIS_0 = { kind: 'per-axis', axis: 0 } as const;

describe('quantize API: the documented example', () => {
  it('quantizes [-1, 0, 3] to uint8 [0, 64, 255] and back', () => {
    const { codes, params } = quantize(new Float32Array([-1, 0, 3]), [3], { dtype: 'uint8' });
    expect(codes).toBeInstanceOf(Uint8Array);
    expect(Array.from(codes)).toEqual([0, 64, 255]);
    expect(params.zeroPoint[0]).toBe(64);
    expect(params.scale[0]).toBe(Math.fround(Math.fround(4) / 255));
    const back = dequantize(codes, [3], params);
    expect(back[1]).toBe(0);
    expect(Math.abs(back[2] - 3)).toBeLessThanOrEqual(params.scale[0] / 2);
  });

  it('stores codes in the dtype storage type', () => {
    expect(quantize(new Float32Array([1, -1]), [2], { dtype: 'int4' }).codes).toBeInstanceOf(Int8Array);
    expect(quantize(new Float32Array([1, -1]), [2], { dtype: 'uint12' }).codes).toBeInstanceOf(Uint16Array);
    expect(quantize(new Float32Array([1, -1]), [2], { dtype: 'int16' }).codes).toBeInstanceOf(Int16Array);
  });
});

describe('NaN and infinities', () => {
  const nanAt3 = new Float32Array([0, 1, 2, NaN, 4, NaN]);
  it('NaN is NAN_INPUT naming the first index, whichever entry point sees it', () => {
    const calls: Array<() => unknown> = [
      () => computeQParams(nanAt3, [6], { dtype: 'int8' }),
      () => quantize(nanAt3, [6], { dtype: 'int8' }),
      () => quantize(nanAt3, [2, 3], { dtype: 'int8', granularity: PER_AXIS_0 }),
      () => fakeQuantize(nanAt3, [6], { dtype: 'uint4' }),
      () => quantize(nanAt3, [6], { params: computeQParams(new Float32Array(6).fill(1), [6], { dtype: 'int8' }) }),
      () => fakeQuantize(nanAt3, [6], { params: computeQParams(new Float32Array(6).fill(1), [6], { dtype: 'int8' }) }),
    ];
    for (const call of calls) {
      const e = quantError(call);
      expect(e.code).toBe('NAN_INPUT');
      expect(e.message).toContain('index 3');
      expect(e.details).toEqual({ index: 3 });
    }
  });

  it('NaN wins over an earlier infinity, even with allowInf', () => {
    const e = quantError(() => quantize(new Float32Array([Infinity, 1, NaN]), [3], { dtype: 'int8', allowInf: true }));
    expect(e.code).toBe('NAN_INPUT');
    expect(e.details).toEqual({ index: 2 });
  });

  it('Infinity is INF_INPUT naming the first index unless allowed', () => {
    const x = new Float32Array([0, 1, -Infinity, Infinity]);
    for (const call of [
      () => quantize(x, [4], { dtype: 'int8' }),
      () => fakeQuantize(x, [4], { dtype: 'int8' }),
      () => quantize(x, [4], { params: computeQParams(new Float32Array([0, 1, 2, 3]), [4], { dtype: 'int8' }) }),
    ]) {
      const e = quantError(call);
      expect(e.code).toBe('INF_INPUT');
      expect(e.message).toContain('index 2');
      expect(e.message).toContain('-Infinity');
    }
  });

  it('with allowInf the range ignores infinities and they saturate to qmin / qmax', () => {
    const x = new Float32Array([-Infinity, -1, 0, 3, Infinity]);
    const { codes, params } = quantize(x, [5], { dtype: 'int8', allowInf: true });
    const finite = computeQParams(new Float32Array([-1, 0, 3]), [3], { dtype: 'int8' });
    expect(params.scale).toEqual(finite.scale);
    expect(params.zeroPoint).toEqual(finite.zeroPoint);
    expect(codes[0]).toBe(-128);
    expect(codes[4]).toBe(127);
    const fake = fakeQuantize(x, [5], { dtype: 'int8', allowInf: true }).values;
    expect(Array.from(fake).every(Number.isFinite)).toBe(true);
    expect(quantize(x, [5], { params, allowInf: true }).codes).toEqual(codes);
  });

  it('validate: false skips the scan (the caller vouches for finite input)', () => {
    const params = computeQParams(new Float32Array([0, 1]), [2], { dtype: 'uint8' });
    expect(() => quantize(new Float32Array([NaN, 1]), [2], { params, validate: false })).not.toThrow();
  });
});

describe('empty input', () => {
  it('cannot compute parameters from nothing', () => {
    expect(quantError(() => computeQParams(new Float32Array(0), [0], { dtype: 'int8' })).code).toBe('EMPTY_INPUT');
    expect(quantError(() => quantize(new Float32Array(0), [0], { dtype: 'int8' })).code).toBe('EMPTY_INPUT');
    expect(quantError(() => fakeQuantize(new Float32Array(0), [2, 0], { dtype: 'int8' })).code).toBe('EMPTY_INPUT');
    expect(quantError(() => computeRange(new Float32Array(0), blockLayout([0], PER_TENSOR))).code).toBe('EMPTY_INPUT');
  });

  it('with given parameters, an empty tensor maps to an empty result everywhere', () => {
    const params = computeQParams(new Float32Array([1, 2]), [2], { dtype: 'int8' });
    expect(quantize(new Float32Array(0), [0], { params }).codes).toHaveLength(0);
    expect(fakeQuantize(new Float32Array(0), [0], { params }).values).toHaveLength(0);
    expect(dequantize(new Int8Array(0), [0], params)).toHaveLength(0);
  });
});

describe('shapes and parameters', () => {
  it('rejects a shape that does not match the data', () => {
    const e = quantError(() => quantize(new Float32Array(6), [2, 4], { dtype: 'int8' }));
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toMatch(/\[2, 4\] has 8 elements but the data has 6/);
    expect(quantError(() => dequantize(new Int8Array(6), [7], computeQParams(new Float32Array(7), [7], { dtype: 'int8' }))).code).toBe('SHAPE_MISMATCH');
    expect(quantError(() => computeQParams(new Float32Array(6), [2, -3], { dtype: 'int8' })).code).toBe('SHAPE_MISMATCH');
  });

  it('rejects parameters that do not fit the shape', () => {
    const x = new Float32Array([1, 2, 3, 4, 5, 6]);
    const params = computeQParams(x, [2, 3], { dtype: 'int8', granularity: PER_AXIS_0 });
    expect(params.paramShape).toEqual([2]);
    const e = quantError(() => quantize(x, [3, 2], { params }));
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toMatch(/expected \[3\]/);
    expect(quantError(() => dequantize(new Int8Array(6), [6, 1], params)).code).toBe('SHAPE_MISMATCH');
    expect(quantError(() => fakeQuantize(x, [1, 6], { params })).code).toBe('SHAPE_MISMATCH');
    // A hand-built QParams whose arrays disagree with its own paramShape is caught too.
    const lying: QParams = { ...params, scale: new Float32Array(3) };
    expect(quantError(() => layoutForParams(6, [2, 3], lying)).code).toBe('SHAPE_MISMATCH');
    expect(quantError(() => qparamsFromRange(new Float32Array(3), new Float32Array(3), [2, 3], { dtype: 'int8', granularity: PER_AXIS_0 })).code).toBe('SHAPE_MISMATCH');
  });

  it('qparamsFromRange rejects a NaN range instead of returning a NaN scale', () => {
    const e = quantError(() => qparamsFromRange(new Float32Array([0, NaN]), new Float32Array([1, 1]), [2, 3], { dtype: 'int8', granularity: PER_AXIS_0 }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.details).toEqual({ index: 1 });
    const ok = qparamsFromRange(new Float32Array([-1, 0]), new Float32Array([1, 2]), [2, 3], { dtype: 'int8', granularity: PER_AXIS_0 });
    expect(Array.from(ok.scale).every(Number.isFinite)).toBe(true);
  });

  it('needs a dtype or params, a known dtype, and narrow only on signed types', () => {
    expect(quantError(() => quantize(new Float32Array(1), [1], {})).code).toBe('INVALID_ARGUMENT');
    expect(quantError(() => fakeQuantize(new Float32Array(1), [1], {})).code).toBe('INVALID_ARGUMENT');
    expect(quantError(() => quantize(new Float32Array(1), [1], { dtype: 'int1' as 'int2' })).code).toBe('UNKNOWN_DTYPE');
    expect(quantError(() => quantize(new Float32Array(1), [1], { dtype: 'uint8', narrow: true })).code).toBe('INVALID_ARGUMENT');
  });

  it('returns frozen parameters', () => {
    const params = computeQParams(new Float32Array([1, 2]), [2], { dtype: 'int8' });
    expect(Object.isFrozen(params)).toBe(true);
    expect(Object.isFrozen(params.paramShape)).toBe(true);
  });
});

describe('degenerate ranges give finite parameters', () => {
  const inputs: Array<[string, Float32Array]> = [
    ['all zero', new Float32Array(5)],
    ['constant positive', new Float32Array(5).fill(2.5)],
    ['constant negative', new Float32Array(5).fill(-1e-3)],
    ['one tiny value', new Float32Array([1e-45])],
  ];
  for (const [label, x] of inputs) {
    it(`${label}: every dtype, symmetric or not`, () => {
      for (const dtype of QUANT_DTYPE_NAMES) {
        for (const symmetric of [false, true]) {
          const { params, codes } = quantize(x, [x.length], { dtype, symmetric });
          expect(Number.isFinite(params.scale[0]), `${dtype} ${symmetric}`).toBe(true);
          expect(params.scale[0]).toBeGreaterThanOrEqual(FLOAT32_EPS);
          expect(Number.isInteger(params.zeroPoint[0])).toBe(true);
          expect(params.zeroPoint[0]).toBeGreaterThanOrEqual(params.qmin);
          expect(params.zeroPoint[0]).toBeLessThanOrEqual(params.qmax);
          const back = dequantize(codes, [x.length], params);
          expect(Array.from(back).every(Number.isFinite)).toBe(true);
        }
      }
    });
  }

  it('zero is exactly representable (it dequantizes to 0)', () => {
    for (const dtype of ['int8', 'uint8', 'int3', 'uint16'] as const) {
      const x = new Float32Array([0, 0.37, 5.1, -2.2]);
      expect(fakeQuantize(x, [4], { dtype }).values[0]).toBe(0);
    }
  });
});

describe('caller-provided output arrays', () => {
  const x = new Float32Array([-1, 0, 0.5, 3]);
  it('are filled and returned as the same object', () => {
    const out = new Int8Array(4);
    const r = quantize(x, [4], { dtype: 'int8', out });
    expect(r.codes).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(quantize(x, [4], { dtype: 'int8' }).codes));
    const deqOut = new Float32Array(4);
    expect(dequantize(out, [4], r.params, { out: deqOut })).toBe(deqOut);
    const fakeOut = new Float32Array(4);
    expect(fakeQuantize(x, [4], { dtype: 'int8', out: fakeOut }).values).toBe(fakeOut);
    expect(fakeOut).toEqual(deqOut);
  });

  it('of the wrong type or length are rejected', () => {
    for (const out of [new Uint8Array(4), new Int16Array(4), new Int8Array(3), new Uint8ClampedArray(4) as unknown as Uint8Array]) {
      const e = quantError(() => quantize(x, [4], { dtype: 'int8', out }));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toMatch(/int8 array of 4 elements/);
    }
    expect(quantError(() => quantize(x, [4], { dtype: 'uint16', out: new Int16Array(4) })).code).toBe('INVALID_ARGUMENT');
    const params = computeQParams(x, [4], { dtype: 'int8' });
    expect(quantError(() => dequantize(new Int8Array(4), [4], params, { out: new Float32Array(5) })).code).toBe('SHAPE_MISMATCH');
    expect(quantError(() => fakeQuantize(x, [4], { dtype: 'int8', out: new Float32Array(3) })).code).toBe('SHAPE_MISMATCH');
  });
});

describe('stochastic rounding through quantize', () => {
  it('is seeded: same seed same codes, and it differs from round-to-nearest on average', () => {
    const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 3);
    const a = quantize(x, [64], { dtype: 'int4', rounding: 'stochastic', seed: 7 }).codes;
    const b = quantize(x, [64], { dtype: 'int4', rounding: 'stochastic', seed: 7 }).codes;
    const c = quantize(x, [64], { dtype: 'int4', rounding: 'stochastic', seed: 8 }).codes;
    const nearest = quantize(x, [64], { dtype: 'int4' }).codes;
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(a).not.toEqual(nearest);
    for (let i = 0; i < 64; i++) expect(Math.abs(a[i] - nearest[i])).toBeLessThanOrEqual(1);
  });
});

describe('plain arrays of numbers', () => {
  it('quantize, fakeQuantize and computeQParams take [1, 2, 3] as the Float32Array of those values', () => {
    const plain = [1, 2, 3, -0.5];
    const typed = Float32Array.from(plain);
    const opts = { dtype: 'int8' as const };
    expect(quantize(plain, [4], opts)).toEqual(quantize(typed, [4], opts));
    expect(quantize([0.1, 0.7], [2], { dtype: 'uint8', rounding: 'stochastic', seed: 3 })).toEqual(quantize(Float32Array.from([0.1, 0.7]), [2], { dtype: 'uint8', rounding: 'stochastic', seed: 3 }));
    expect(fakeQuantize(plain, [2, 2], { dtype: 'uint4', granularity: { kind: 'per-axis', axis: 0 } })).toEqual(fakeQuantize(typed, [2, 2], { dtype: 'uint4', granularity: { kind: 'per-axis', axis: 0 } }));
    expect(computeQParams(plain, [4], opts)).toEqual(computeQParams(typed, [4], opts));
  });

  it('anything else is INVALID_ARGUMENT saying what is expected, not a TypeError', () => {
    expectQuantError(() => quantize([1, '2' as never, 3], [3], { dtype: 'int8' }), 'INVALID_ARGUMENT', 'quantize takes a Float32Array or an array of numbers; element 1 is string "2"');
    expectQuantError(() => quantize(new Float64Array(3) as never, [3], { dtype: 'int8' }), 'INVALID_ARGUMENT', /got a Float64Array \(convert it with Float32Array\.from\)/);
    expectQuantError(() => fakeQuantize(undefined as never, [3], { dtype: 'int8' }), 'INVALID_ARGUMENT', 'fakeQuantize takes a Float32Array or an array of numbers, got undefined');
  });
});
