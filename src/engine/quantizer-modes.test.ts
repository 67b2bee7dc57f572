import { describe, expect, test } from 'vitest';
import { computeQParams, dequantize, quantize } from '../core/quantize.js';
import { setUninitializedAllocator } from '../core/output-array.js';
import { Quantizer } from './quantizer.js';
import { expectQuantError } from '../../test/helpers/quant-error.js';

const x23 = [[1.2, 3.4, 5.6], [7.8, 9.0, 2.1]];
const flat23 = Float32Array.from(x23.flat());

describe('DYNAMIC (default)', () => {
  test('computes per-tensor MinMaxObserver parameters from each call, as core does', () => {
    const q = new Quantizer();
    const r = q.quantize(x23);
    const want = quantize(flat23, [2, 3], { dtype: 'int8' });
    expect(r.kind).toBe('integer');
    expect(r.shape).toEqual([2, 3]);
    expect(Array.from(r.codes)).toEqual(Array.from(want.codes));
    expect(r.params!.scale).toEqual(want.params.scale);
    expect(r.params!.zeroPoint).toEqual(want.params.zeroPoint);
    expect(r.codes).toBeInstanceOf(Int8Array);
    expect(r.quantizationType).toBe('INT8');
  });

  test('the reference example: [-1, 0, 3] -> int8 [-128, -64, 127], scale 4/255, zero point -64', () => {
    const r = new Quantizer().quantize([[-1, 0, 3]]);
    expect(Array.from(r.codes)).toEqual([-128, -64, 127]);
    expect(r.params!.scale[0]).toBe(Math.fround(4 / 255));
    expect(r.params!.zeroPoint[0]).toBe(-64);
  });

  test('remembers the last parameters, which dequantize uses by default', () => {
    const q = new Quantizer();
    const r = q.quantize(x23);
    const d = q.dequantize(r.codes, { shape: r.shape });
    expect(Array.from(d.values)).toEqual(Array.from(dequantize(r.codes as Int8Array, [2, 3], r.params!)));
    expect(d.shape).toEqual([2, 3]);
    expect(q.getStats().lastScale).toBe(r.params!.scale[0]);
    expect(q.getStats().lastZeroPoint).toBe(r.params!.zeroPoint[0]);
    expect(q.scale).toBe(r.params!.scale[0]);
    expect(q.zeroPoint).toBe(r.params!.zeroPoint[0]);
  });

  test('symmetric config gives symmetric parameters; channelDim gives per-channel', () => {
    const q = new Quantizer({ symmetric: true });
    const r = q.quantize(x23);
    expect(r.params!.symmetric).toBe(true);
    expect(r.params!.zeroPoint[0]).toBe(0);
    const pc = q.quantize(x23, { channelDim: 1 });
    expect(pc.params!.granularity).toEqual({ kind: 'per-axis', axis: 1 });
    expect(pc.params!.scale.length).toBe(3);
    const want = quantize(flat23, [2, 3], { dtype: 'int8', symmetric: true, granularity: { kind: 'per-axis', axis: 1 } });
    expect(Array.from(pc.codes)).toEqual(Array.from(want.codes));
    expect(q.quantize(x23, { channelDim: -1 }).params!.granularity).toEqual({ kind: 'per-axis', axis: 1 });
  });

  test('perChannel config quantizes along config.channelDim', () => {
    const r = new Quantizer({ perChannel: true, channelDim: 1 }).quantize(x23);
    expect(r.params!.granularity).toEqual({ kind: 'per-axis', axis: 1 });
  });
});

describe('DYNAMIC_PER_BATCH', () => {
  test('each row along axis 0 gets its own parameters', () => {
    const q = new Quantizer({ quantizationMode: 'DYNAMIC_PER_BATCH' });
    const data = [[[-1, 2], [3, 4]], [[100, -50], [0, 25]]];
    const r = q.quantize(data);
    expect(r.params!.granularity).toEqual({ kind: 'per-axis', axis: 0 });
    expect(r.params!.scale.length).toBe(2);
    for (let row = 0; row < 2; row++) {
      const rowData = Float32Array.from(data[row].flat());
      const own = computeQParams(rowData, [4], { dtype: 'int8' });
      expect(r.params!.scale[row]).toBe(own.scale[0]);
      expect(r.params!.zeroPoint[row]).toBe(own.zeroPoint[0]);
      expect(Array.from(r.codes.subarray(row * 4, row * 4 + 4))).toEqual(Array.from(quantize(rowData, [4], { params: own }).codes));
    }
    const d = q.dequantize(r.codes, { shape: r.shape });
    expect(d.values.length).toBe(8);
  });

  test('a channelDim other than 0, or a scalar, is an error', () => {
    const q = new Quantizer({ quantizationMode: 'DYNAMIC_PER_BATCH' });
    expectQuantError(() => q.quantize(x23, { channelDim: 1 }), 'INVALID_ARGUMENT', /axis 0/);
    expect(q.quantize(x23, { channelDim: 0 }).params!.scale.length).toBe(2);
    expectQuantError(() => q.quantize(3), 'SHAPE_MISMATCH', /rank >= 1/);
  });
});

describe('SYMMETRIC / ASYMMETRIC / PER_CHANNEL', () => {
  test('SYMMETRIC forces symmetric per-tensor parameters, ASYMMETRIC asymmetric', () => {
    expect(new Quantizer({ quantizationMode: 'SYMMETRIC' }).quantize(x23).params).toMatchObject({ symmetric: true, granularity: { kind: 'per-tensor' } });
    expect(new Quantizer({ quantizationMode: 'ASYMMETRIC', symmetric: true }).quantize(x23).params).toMatchObject({ symmetric: false });
    const sym = new Quantizer({ quantizationMode: 'SYMMETRIC', quantizationType: 'UINT8' }).quantize(x23);
    expect(sym.params!.zeroPoint[0]).toBe(128);
  });

  test('PER_CHANNEL goes along channelDim (config default 0, or the call)', () => {
    const q = new Quantizer({ quantizationMode: 'PER_CHANNEL' });
    const r = q.quantize(x23);
    expect(r.params!.granularity).toEqual({ kind: 'per-axis', axis: 0 });
    expect(r.params!.scale.length).toBe(2);
    expect(q.quantize(x23, { channelDim: 1 }).params!.scale.length).toBe(3);
    const want = quantize(flat23, [2, 3], { dtype: 'int8', granularity: { kind: 'per-axis', axis: 0 } });
    expect(Array.from(r.codes)).toEqual(Array.from(want.codes));
    expectQuantError(() => q.quantize(x23, { channelDim: 2 }), 'AXIS_OUT_OF_RANGE');
  });
});

describe('types', () => {
  test.each([
    ['UINT8', {}, Uint8Array, 0, 255],
    ['INT16', {}, Int16Array, -32768, 32767],
    ['INT4', {}, Int8Array, -8, 7],
    ['UINT4', {}, Uint8Array, 0, 15],
    ['INT8', { numBits: 4 }, Int8Array, -8, 7],
    ['UINT8', { numBits: 12 - 6 }, Uint8Array, 0, 63],
  ] as const)('%s %o: codes in the right storage and range', (type, extra, Ctor, qmin, qmax) => {
    const r = new Quantizer({ quantizationType: type, ...extra }).quantize([[-2, 0.5], [1, 3]]);
    if (r.kind !== 'integer') throw new Error('integer expected');
    expect(r.codes).toBeInstanceOf(Ctor);
    expect([r.params!.qmin, r.params!.qmax]).toEqual([qmin, qmax]);
    expect(Math.min(...r.codes)).toBe(qmin);
    expect(Math.max(...r.codes)).toBe(qmax);
  });

  test('FLOAT16 stores float16 bits and dequantizes them back', () => {
    const q = new Quantizer({ quantizationType: 'FLOAT16' });
    const r = q.quantize([[1, 0.1, 65504, 70000]]);
    expect(r.kind).toBe('float16');
    expect(r.codes).toBeInstanceOf(Uint16Array);
    expect(Array.from(r.codes)).toEqual([0x3c00, 0x2e66, 0x7bff, 0x7c00]);
    expect(r.params).toBeNull();
    expect(r.clipped).toBe(1);
    const d = q.dequantize(r.codes, { shape: r.shape });
    expect(Array.from(d.values)).toEqual([1, 0.0999755859375, 65504, Infinity]);
    expect(q.getStats().clippedValues).toBe(1);
  });

  test('NONE passes the data through', () => {
    const q = new Quantizer({ quantizationType: 'NONE' });
    const x = new Float32Array([1.5, -2]);
    const r = q.quantize(x);
    expect(r.kind).toBe('none');
    expect(r.codes).toBe(x);
    expect(q.dequantize([1.5, -2]).values).toEqual(x);
    expect(q.quantizeDequantize(x).values).toBe(x);
  });
});

describe('quantizeDequantize and dequantize', () => {
  test('quantizeDequantize equals dequantize(quantize(x)) with the same parameters and counts both calls', () => {
    const q = new Quantizer();
    const r = q.quantizeDequantize(x23);
    const want = quantize(flat23, [2, 3], { dtype: 'int8' });
    expect(Array.from(r.values)).toEqual(Array.from(dequantize(want.codes, [2, 3], want.params)));
    expect(r.shape).toEqual([2, 3]);
    expect(q.getStats()).toMatchObject({ quantizeCalls: 1, dequantizeCalls: 1 });
  });

  test('dequantize with explicit params, nested codes, and a channelDim that must match the parameters', () => {
    const q = new Quantizer({ quantizationMode: 'PER_CHANNEL' });
    const r = q.quantize(x23);
    const nested = [Array.from(r.codes.subarray(0, 3)), Array.from(r.codes.subarray(3))];
    const d = new Quantizer().dequantize(nested, { params: r.params!, channelDim: 0 });
    expect(Array.from(d.values)).toEqual(Array.from(dequantize(r.codes as Int8Array, [2, 3], r.params!)));
    expectQuantError(() => q.dequantize(nested, { params: r.params!, channelDim: 1 }), 'SHAPE_MISMATCH', /along axis 1, but the parameters are along axis 0/);
    expectQuantError(() => q.dequantize(r.codes, { params: r.params! }), 'SHAPE_MISMATCH');
    expectQuantError(() => q.dequantize([[1, 2, 3, 4]], { params: r.params!, shape: [3] }), 'SHAPE_MISMATCH', /does not fit 4 codes/);
  });

  test('dequantize before any quantize has no parameters (NOT_CALIBRATED)', () => {
    expectQuantError(() => new Quantizer().dequantize([1, 2]), 'NOT_CALIBRATED', /quantize first/);
  });

  test('out-of-range codes are rejected', () => {
    const q = new Quantizer();
    q.quantize(x23);
    expectQuantError(() => q.dequantize([[1, 200]]), 'INVALID_ARGUMENT', /expected an integer code in -128..127 at \[0, 1\], got 200/);
  });
});

describe('computeScaleAndZeroPoint', () => {
  test('per-tensor parameters of the data, without changing state', () => {
    const q = new Quantizer();
    const s = q.computeScaleAndZeroPoint(x23);
    const want = computeQParams(flat23, [2, 3], { dtype: 'int8' });
    expect(s.scale).toBe(want.scale[0]);
    expect(s.zeroPoint).toBe(want.zeroPoint[0]);
    expect(q.getStats().quantizeCalls).toBe(0);
    expect(Number.isNaN(q.scale)).toBe(true);
  });

  test('channelIdx gives the parameters of one channel along channelDim', () => {
    const q = new Quantizer({ channelDim: 1 });
    const s = q.computeScaleAndZeroPoint(x23, 2);
    const want = computeQParams(new Float32Array([5.6, 2.1]), [2], { dtype: 'int8' });
    expect(s.scale).toBe(want.scale[0]);
    expect(s.zeroPoint).toBe(want.zeroPoint[0]);
    expectQuantError(() => q.computeScaleAndZeroPoint(x23, 3), 'AXIS_OUT_OF_RANGE', /channelIdx 3 is out of range for 3 channels/);
    const pc = new Quantizer({ quantizationMode: 'PER_CHANNEL' }).computeScaleAndZeroPoint(x23);
    expect(pc.scales.length).toBe(2);
  });

  test('types without a scale are UNSUPPORTED', () => {
    expectQuantError(() => new Quantizer({ quantizationType: 'FLOAT16' }).computeScaleAndZeroPoint(x23), 'UNSUPPORTED');
  });
});

describe('range methods', () => {
  const data = Float32Array.from({ length: 1000 }, (_, i) => (i === 999 ? 1000 : (i % 100) / 100));

  test('usePercentile clips at the percentiles, and the clipped values are counted', () => {
    const q = new Quantizer({ usePercentile: true, minPercentile: 0, maxPercentile: 99 });
    const r = q.quantize(data);
    expect(r.params!.scale[0]).toBeLessThan(2 / 255);
    expect(r.clipped).toBeGreaterThanOrEqual(1);
    expect(q.getStats().clippedValues).toBe(r.clipped);
    const plain = new Quantizer().quantize(data);
    expect(plain.clipped).toBe(0);
    expect(plain.params!.scale[0]).toBeCloseTo(1000 / 255, 3);
  });

  test('outlierThreshold clips at mean + k std', () => {
    const r = new Quantizer({ outlierThreshold: 3 }).quantize(data);
    expect(r.params!.scale[0]).toBeLessThan(1000 / 255 / 2);
    expect(r.clipped).toBe(1);
  });
});

describe('clipped counting', () => {
  test('dynamic min/max parameters clip nothing; calibrated ones count exactly the clamped values, per channel too', () => {
    const q = new Quantizer();
    expect(q.quantize(Float32Array.from({ length: 999 }, (_, i) => Math.sin(i) * 7)).clipped).toBe(0);
    const c = new Quantizer({ quantizationMode: 'CALIBRATED', perChannel: true });
    c.calibrate([[[-1, 1], [-2, 2]]]);
    const r = c.quantize([[-1, 5], [-9, 1]]);
    expect(r.clipped).toBe(2);
    expect(c.quantize([[-1, 5], [-9, 1]], { validate: false }).clipped).toBe(2);
  });
});

describe('uninitialized outputs', () => {
  // Large fresh outputs may come from uninitialized memory (core/output-array.ts): every code, NaN
  // positions included, and every dequantized value must be written over whatever it held.
  test('quantize and dequantize write every element of garbage-filled arrays', () => {
    const shape = [1031, 1019];
    const n = shape[0] * shape[1];
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.cos(i * 0.11) * (1 + (i % 5));
    x[5] = NaN;
    x[n - 1] = NaN;
    const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const run = () => {
      const q = new Quantizer({ errorOnNan: false });
      const r = q.quantize({ data: x, shape });
      return { codes: r.codes, values: q.dequantize({ data: r.codes, shape }, { params: r.params! }).values };
    };
    let calls = 0;
    setUninitializedAllocator((size) => {
      calls++;
      return { buffer: new Uint8Array(size).fill(0xa5).buffer, byteOffset: 0 };
    });
    let got;
    try {
      got = run();
    } finally {
      setUninitializedAllocator(undefined);
    }
    expect(calls).toBe(2);
    const want = run();
    expect(bytes(got.codes).equals(bytes(want.codes))).toBe(true);
    expect(bytes(got.values).equals(bytes(want.values))).toBe(true);
  });
});
