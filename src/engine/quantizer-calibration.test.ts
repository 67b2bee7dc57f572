import { describe, expect, test } from 'vitest';
import { QuantError } from '../core/errors.js';
import { dequantize, qparamsFromRange, quantize } from '../core/quantize.js';
import { createRng } from '../core/random.js';
import { Quantizer } from './quantizer.js';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(QuantError);
    return (e as QuantError).code;
  }
  throw new Error('expected a QuantError');
}

function uniform(n: number, lo: number, hi: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rng());
}

describe('CALIBRATED', () => {
  test('quantize before calibrate is NOT_CALIBRATED', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
    expect(code(() => q.quantize([1, 2]))).toBe('NOT_CALIBRATED');
    expect(() => q.quantize([1, 2])).toThrow(/call calibrate .*first/);
    expect(code(() => q.dequantize([1, 2]))).toBe('NOT_CALIBRATED');
  });

  test('calibrate takes the min/max over all batches; quantize uses those parameters, clips and counts what falls outside', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
    const report = q.calibrate([[[-1, 0.5], [2, 0]], [[0, 3], [-0.5, 1]]]);
    const want = qparamsFromRange(new Float32Array([-1]), new Float32Array([3]), [2, 2], { dtype: 'int8' });
    expect(report.scale).toBe(want.scale[0]);
    expect(report.zeroPoint).toBe(want.zeroPoint[0]);
    expect([report.min, report.max, report.observedMin, report.observedMax]).toEqual([-1, 3, -1, 3]);
    expect(report.batches).toBe(2);
    expect(report.count).toBe(8);
    expect(report.clippedFraction).toBe(0);
    const r = q.quantize([[10, -10], [1, 0]]);
    expect(r.params!.scale[0]).toBe(want.scale[0]);
    expect(Array.from(r.codes)).toEqual(Array.from(quantize(new Float32Array([10, -10, 1, 0]), [2, 2], { params: want }).codes));
    expect(r.clipped).toBe(2);
    expect(q.getStats().clippedValues).toBe(2);
    // Calibrated parameters do not move with the data.
    expect(q.quantize([[0.1, 0.2], [0.3, 0.4]]).params!.scale[0]).toBe(want.scale[0]);
  });

  test('the report measures the fit: MSE, SQNR and the error histogram agree with a direct computation', () => {
    const batches = [uniform(500, -1, 1, 1), uniform(500, -1, 1, 2)].map((d) => ({ data: d, shape: [10, 50] }));
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', usePercentile: true, minPercentile: 1, maxPercentile: 99 });
    const report = q.calibrate(batches);
    let sumSq = 0;
    let sumX2 = 0;
    let clipped = 0;
    const { qmin, qmax } = report.params;
    for (const b of batches) {
      const { codes } = quantize(b.data, b.shape, { params: report.params });
      const back = dequantize(codes, b.shape, report.params);
      for (let i = 0; i < b.data.length; i++) {
        sumSq += (b.data[i] - back[i]) ** 2;
        sumX2 += b.data[i] ** 2;
        const v = Math.round(b.data[i] / report.scale) + report.zeroPoint;
        if (v < qmin - 0 || v > qmax) clipped++;
      }
    }
    expect(report.mse).toBeCloseTo(sumSq / 1000, 12);
    expect(report.sqnrDb).toBeCloseTo(10 * Math.log10(sumX2 / sumSq), 9);
    expect(report.clippedFraction).toBeGreaterThan(0.005);
    expect(report.clippedFraction).toBeCloseTo(clipped / 1000, 2);
    expect(report.method).toBe('percentile');
    expect(report.histogram.of).toBe('error');
    expect(report.histogram.edges.length).toBe(report.histogram.counts.length + 1);
    expect(report.histogram.counts.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(report.max).toBeLessThan(report.observedMax);
  });

  test('per-channel calibration (perChannel) stores one parameter per channel', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', perChannel: true, channelDim: 1 });
    const report = q.calibrate([[[1, -4], [2, 8]], [[-1, 2], [3, 4]]]);
    expect(report.axis).toBe(1);
    expect(report.scales.length).toBe(2);
    const r = q.quantize([[1, 1], [1, 1]]);
    expect(r.params!.granularity).toEqual({ kind: 'per-axis', axis: 1 });
    expect(code(() => q.quantize([[1, 1, 1], [1, 1, 1]]))).toBe('SHAPE_MISMATCH');
    expect(code(() => q.quantize([[1, 1], [1, 1]], { channelDim: 0 }))).toBe('SHAPE_MISMATCH');
  });

  test('requantization widens the running range when too much is clipped, and counts it', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', enableRequantization: true, requantizationThreshold: 0.25 });
    q.calibrate([[-1, 1]]);
    const before = q.getParameters().active!.scale[0];
    // 1 of 4 clipped: not above the threshold.
    const small = q.quantize([0, 0.5, -0.5, 2]);
    expect(small.requantized).toBe(false);
    expect(small.clipped).toBe(1);
    const big = q.quantize([0, 5, -0.5, 4]);
    expect(big.requantized).toBe(true);
    expect(big.clipped).toBe(0);
    const widened = qparamsFromRange(new Float32Array([-1]), new Float32Array([5]), [4], { dtype: 'int8' });
    expect(big.params!.scale[0]).toBe(widened.scale[0]);
    expect(q.getParameters().active!.scale[0]).toBe(widened.scale[0]);
    expect(widened.scale[0]).toBeGreaterThan(before);
    expect(q.getStats().requantizations).toBe(1);
    expect(Array.from(big.codes)).toEqual(Array.from(quantize(new Float32Array([0, 5, -0.5, 4]), [4], { params: big.params! }).codes));
  });

  test('without enableRequantization the range never moves', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
    q.calibrate([[-1, 1]]);
    expect(q.quantize([0, 5, 5, 5]).requantized).toBe(false);
    expect(q.getStats().requantizations).toBe(0);
  });

  test('outlierThreshold calibrates with the outlier-clipping observer', () => {
    const data = uniform(2000, -1, 1, 3);
    data[7] = 500;
    const report = new Quantizer({ quantizationMode: 'CALIBRATED', outlierThreshold: 3 }).calibrate([data]);
    expect(report.method).toBe('outlier');
    expect(report.max).toBeLessThan(100);
    expect(report.observedMax).toBe(500);
  });

  test('a single tensor counts as one batch', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
    expect(q.calibrate({ data: new Float32Array([-1, 2]), shape: [2] }).batches).toBe(1);
    expect(q.calibrate(new Float32Array([-1, 2])).batches).toBe(1);
  });

  test('calibrating in DYNAMIC mode stores parameters for when the mode becomes CALIBRATED', () => {
    const q = new Quantizer();
    const report = q.calibrate([[-1, 3]]);
    q.updateConfig({ quantizationMode: 'CALIBRATED' });
    expect(q.quantize([0, 100]).params!.scale[0]).toBe(report.scale);
  });
});

describe('bad calibration input leaves the state unchanged', () => {
  test('batches of different shapes, empty batches, no batches, NaN', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
    const first = q.calibrate([[-1, 1]]);
    expect(() => q.calibrate([[[1, 2]], [[1, 2, 3]]])).toThrow('calibration batch 1 has shape [1, 3] but batch 0 has [1, 2]; all batches must have one shape');
    expect(code(() => q.calibrate([[[1, 2]], [[1, 2, 3]]]))).toBe('SHAPE_MISMATCH');
    expect(code(() => q.calibrate([[]]))).toBe('EMPTY_INPUT');
    expect(code(() => q.calibrate([]))).toBe('EMPTY_INPUT');
    expect(code(() => q.calibrate([[1, NaN]]))).toBe('NAN_INPUT');
    expect(() => q.calibrate([[1, 2], [3, Infinity]])).toThrow('calibration batch 1 contains Infinity at flat index 1');
    expect(q.getParameters().active!.scale[0]).toBe(first.scale);
  });

  test('DYNAMIC_PER_BATCH calibrates per tensor for a later CALIBRATED switch, and still quantizes row by row', () => {
    const q = new Quantizer({ quantizationMode: 'DYNAMIC_PER_BATCH' });
    const report = q.calibrate([[[-1, 1], [0, 3]]]);
    expect(report.scale).toBe(Math.fround(4 / 255));
    const rows = q.quantize([[-1, 1], [0, 3]]);
    expect(rows.params!.paramShape).toEqual([2]);
    q.updateConfig({ quantizationMode: 'CALIBRATED' });
    expect(q.quantize([[-1, 1], [0, 3]]).params!.scale[0]).toBe(report.scale);
  });

  test('modes and types that cannot be calibrated', () => {
    expect(code(() => new Quantizer({ quantizationType: 'FLOAT16' }).calibrate([[1, 2]]))).toBe('UNSUPPORTED');
    expect(code(() => new Quantizer({ skipLayers: ['a'] }).calibrate([[1, 2]], { layerName: 'a' }))).toBe('UNSUPPORTED');
  });
});
