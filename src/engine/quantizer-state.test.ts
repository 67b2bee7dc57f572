import { afterAll, describe, expect, test } from 'vitest';
import { QuantError } from '../core/errors.js';
import { getKernels, referenceKernels, setKernels, wasmAvailable, wasmKernels } from '../core/kernels/index.js';
import { createRng } from '../core/random.js';
import { Quantizer } from './quantizer.js';
import { quantError as errorOf } from '../../test/helpers/quant-error.js';

function randomData(n: number, seed: number, spread = 1): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => (rng() * 2 - 1) * spread);
}

describe('exportParameters / importParameters', () => {
  test('export then import into a fresh Quantizer reproduces the codes bit for bit (through JSON)', () => {
    const config = { quantizationMode: 'CALIBRATED', perChannel: true, channelDim: 1, usePercentile: true };
    const a = new Quantizer(config);
    a.calibrate([{ data: randomData(64, 1), shape: [8, 8] }, { data: randomData(64, 2), shape: [8, 8] }]);
    a.calibrate([{ data: randomData(16, 3, 5), shape: [4, 4] }], { layerName: 'fc.weight' });
    const b = new Quantizer(config);
    b.importParameters(JSON.parse(JSON.stringify(a.exportParameters())));
    const x = { data: randomData(64, 9, 2), shape: [8, 8] };
    expect(Array.from(b.quantize(x).codes)).toEqual(Array.from(a.quantize(x).codes));
    const y = { data: randomData(16, 10, 5), shape: [4, 4] };
    expect(Array.from(b.quantize(y, { layerName: 'fc.weight' }).codes)).toEqual(Array.from(a.quantize(y, { layerName: 'fc.weight' }).codes));
    expect(b.getParameters()).toEqual(a.getParameters());
  });

  test('last-used parameters travel too, so dequantize without params works after an import', () => {
    const a = new Quantizer();
    const r = a.quantize([[-1, 0.25, 3]]);
    const b = new Quantizer();
    b.importParameters(a.exportParameters());
    expect(Array.from(b.dequantize(r.codes, { shape: r.shape }).values)).toEqual(Array.from(a.dequantize(r.codes, { shape: r.shape }).values));
  });

  test('another version, another format or another dtype is INVALID_PARAMS and nothing changes', () => {
    const a = new Quantizer({ quantizationMode: 'CALIBRATED' });
    a.calibrate([[-1, 1]]);
    const exported = a.exportParameters();
    const b = new Quantizer({ quantizationMode: 'CALIBRATED' });
    b.calibrate([[-5, 5]]);
    const before = b.getParameters();
    expect(errorOf(() => b.importParameters({ ...exported, version: 2 })).message).toBe('parameters.version: unsupported version 2: this quantkit reads version 1');
    expect(errorOf(() => b.importParameters({ ...exported, format: 'x' })).code).toBe('INVALID_PARAMS');
    expect(errorOf(() => b.importParameters('nope')).message).toContain('expected a JSON object');
    const int16 = new Quantizer({ quantizationType: 'INT16', quantizationMode: 'CALIBRATED' });
    int16.calibrate([[-1, 1]]);
    const e = errorOf(() => b.importParameters(int16.exportParameters()));
    expect(e.code).toBe('INVALID_PARAMS');
    expect(e.message).toBe('calibrated parameters for the instance are int16, but this quantizer quantizes it as int8');
    const broken = JSON.parse(JSON.stringify(exported));
    broken.instance.calibrated.params.scale = [-1];
    expect(errorOf(() => b.importParameters(broken)).message).toMatch(/^parameters\.instance\.calibrated\.params.*scale\[0\]: expected a positive finite number, got -1/);
    const badRange = JSON.parse(JSON.stringify(exported));
    badRange.instance.calibrated.range = { min: [2], max: [1] };
    expect(errorOf(() => b.importParameters(badRange)).message).toContain('min[0] = 2 is above max[0] = 1');
    expect(errorOf(() => b.importParameters({ ...exported, extra: 1 })).message).toContain("unknown field(s) 'extra'");
    expect(b.getParameters()).toEqual(before);
  });
});

describe('statistics', () => {
  test('count calls, values, clipped values and time; resetStats clears them', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
    q.calibrate([[-1, 1]]);
    q.quantize([0, 5, -5, 0.5]);
    const r = q.quantize([0.1, 0.2]);
    q.dequantize(r.codes);
    q.dequantize(r.codes);
    const s = q.getStats();
    expect(s).toMatchObject({ quantizeCalls: 2, dequantizeCalls: 2, totalValues: 6, clippedValues: 2, cacheMisses: 0, cacheHits: 0, lastScale: r.params!.scale[0], lastZeroPoint: r.params!.zeroPoint[0] });
    expect(s.processingTimeMs).toBeGreaterThan(0);
    q.resetStats();
    const z = q.getStats();
    expect(z).toMatchObject({ quantizeCalls: 0, dequantizeCalls: 0, totalValues: 0, clippedValues: 0, cacheHits: 0, cacheMisses: 0, processingTimeMs: 0 });
    expect(Number.isNaN(z.lastScale)).toBe(true);
  });
});

// enableCache, cacheSize, bufferSize and optimizeMemory are accepted for the Quantizer API contract
// and act on nothing: no table cache (it lost to the SIMD kernel) and no reused output buffers.
describe('settings kept for the API contract', () => {
  const active = getKernels();
  afterAll(() => setKernels(active));

  test.each([[referenceKernels], ...(wasmAvailable() ? [[wasmKernels]] : [])])('cache and buffer settings change no byte and no count (%#)', (kernels) => {
    setKernels(kernels);
    for (const base of [{}, { quantizationMode: 'PER_CHANNEL', channelDim: 1 }, { quantizationType: 'UINT4' }, { quantizationType: 'INT16' }]) {
      const run = (extra: object) => {
        const q = new Quantizer({ ...base, ...extra });
        const x = { data: randomData(600, 4, 3), shape: [20, 30] };
        const r = q.quantize(x);
        const d1 = q.dequantize(r.codes, { params: r.params!, shape: r.shape });
        const d2 = q.dequantize(r.codes, { shape: r.shape });
        q.clearCache();
        const { processingTimeMs, ...stats } = q.getStats();
        expect(processingTimeMs).toBeGreaterThanOrEqual(0);
        return { codes: Array.from(r.codes), d1: Array.from(new Uint32Array(d1.values.buffer, d1.values.byteOffset, d1.values.length)), d2: Array.from(d2.values), stats };
      };
      const plain = run({ enableCache: false, optimizeMemory: false, bufferSize: 0 });
      const tuned = run({ enableCache: true, cacheSize: 1, optimizeMemory: true, bufferSize: 1 << 20 });
      expect(tuned).toEqual(plain);
      expect(tuned.stats).toMatchObject({ cacheHits: 0, cacheMisses: 0 });
    }
  });

  test('results are fresh arrays: a later call never overwrites an earlier result', () => {
    const q = new Quantizer({ optimizeMemory: true, bufferSize: 8 });
    const a = q.quantize([-1, 1, 0.5]);
    const saved = Array.from(a.codes);
    const b = q.quantize([3, -7, 2]);
    expect(b.codes.buffer).not.toBe(a.codes.buffer);
    expect(Array.from(a.codes)).toEqual(saved);
    const d1 = q.dequantize(b.codes, { params: b.params! });
    const d2 = q.dequantize(a.codes, { params: a.params! });
    expect(d1.values.buffer).not.toBe(d2.values.buffer);
  });

  test('updateConfig accepts the settings and keeps parameters', () => {
    const q = new Quantizer();
    q.quantize([1, -2]);
    const before = q.exportParameters();
    q.updateConfig({ cacheSize: 2, enableCache: false, bufferSize: 4, optimizeMemory: false });
    expect(q.getConfig()).toMatchObject({ cacheSize: 2, enableCache: false, bufferSize: 4, optimizeMemory: false });
    expect(q.exportParameters()).toEqual(before);
  });
});

describe('config changes', () => {
  test('getConfig / updateConfig validate; a bad update changes nothing', () => {
    const q = new Quantizer({ symmetric: true });
    const before = q.getConfig();
    expect(errorOf(() => q.updateConfig({ numBits: 20 })).message).toBe('numBits: expected an integer in 2..16, got 20');
    expect(errorOf(() => q.updateConfig({ quantizationMode: 'FAST' })).code).toBe('INVALID_CONFIG');
    expect(errorOf(() => q.updateConfig({ minPercentile: 99, maxPercentile: 1 })).code).toBe('INVALID_CONFIG');
    expect(q.getConfig()).toBe(before);
    q.updateConfig({ quantizationType: 'UINT8' });
    expect(q.getConfig()).toMatchObject({ quantizationType: 'UINT8', symmetric: true, numBits: 8 });
  });

  test('calibrated ranges survive a scheme change (parameters recomputed) and are dropped when the axis changes', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
    q.calibrate([[-1, 3]]);
    q.updateConfig({ symmetric: true });
    const p = q.getParameters().active!;
    expect(p.symmetric).toBe(true);
    expect(p.scale[0]).toBe(Math.fround(3 / 127.5));
    q.updateConfig({ perChannel: true });
    expect(q.getParameters().active).toBeNull();
    expect(errorOf(() => q.quantize([1, 2])).code).toBe('NOT_CALIBRATED');
  });
});

describe('NaN and Inf', () => {
  test('errorOnNan (default) rejects NaN naming the index; errorOnInf likewise; nothing is counted', () => {
    const q = new Quantizer();
    expect(errorOf(() => q.quantize([1, NaN])).message).toMatch(/NaN at flat index 1/);
    expect(errorOf(() => q.quantize([1, NaN])).code).toBe('NAN_INPUT');
    expect(errorOf(() => q.quantize([[1, 2], [-Infinity, 0]])).code).toBe('INF_INPUT');
    expect(q.getStats().quantizeCalls).toBe(0);
    expect(errorOf(() => q.computeScaleAndZeroPoint([NaN])).code).toBe('NAN_INPUT');
  });

  test('with errorOnNan off, NaN is left out of the range and encoded as the zero point (dequantizes to 0)', () => {
    const q = new Quantizer({ errorOnNan: false, quantizationMode: 'PER_CHANNEL' });
    const r = q.quantize([[-1, NaN, 3], [NaN, 2, 4]]);
    const clean = q.quantize([[-1, 0, 3], [0, 2, 4]]);
    expect(Array.from(r.params!.scale)).toEqual(Array.from(clean.params!.scale));
    expect(r.codes[1]).toBe(r.params!.zeroPoint[0]);
    expect(r.codes[3]).toBe(r.params!.zeroPoint[1]);
    expect(Array.from(q.dequantize(r.codes, { params: r.params!, shape: r.shape }).values).filter((_, i) => i === 1 || i === 3)).toEqual([0, 0]);
    expect(q.getStats().nonFiniteValues).toBe(2);
    const all = new Quantizer({ errorOnNan: false }).quantize([NaN, NaN]);
    expect(Array.from(all.codes)).toEqual([all.params!.zeroPoint[0], all.params!.zeroPoint[0]]);
  });

  test('with errorOnInf off, infinities are left out of the range and saturate (counted as clipped)', () => {
    const q = new Quantizer({ errorOnInf: false });
    const r = q.quantize([-1, Infinity, 3, -Infinity]);
    expect(r.params!.scale[0]).toBe(Math.fround(4 / 255));
    expect(Array.from(r.codes)).toEqual([-128, 127, 127, -128]);
    expect(r.clipped).toBe(2);
    const cal = new Quantizer({ errorOnInf: false, errorOnNan: false, quantizationMode: 'CALIBRATED' });
    const report = cal.calibrate([[-1, Infinity, NaN, 3]]);
    expect([report.min, report.max]).toEqual([-1, 3]);
    expect(report.clippedFraction).toBe(0.25);
  });
});

describe('other bad input', () => {
  test('empty data, ragged data, strings are errors and count nothing', () => {
    const q = new Quantizer();
    expect(errorOf(() => q.quantize([])).code).toBe('EMPTY_INPUT');
    expect(errorOf(() => q.quantize([[1, 2], [3]])).code).toBe('SHAPE_MISMATCH');
    expect(errorOf(() => q.quantize([['a']] as never)).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => new Quantizer({ quantizationType: 'INT9' })).code).toBe('INVALID_CONFIG');
    expect(errorOf(() => new Quantizer({ quantizationMode: 'NOPE' })).code).toBe('INVALID_CONFIG');
    expect(q.getStats().quantizeCalls).toBe(0);
  });

  test('validate: false skips the NaN scan for calibrated parameters', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
    q.calibrate([[-1, 1]]);
    expect(() => q.quantize([NaN])).toThrow(QuantError);
    expect(q.quantize([NaN], { validate: false }).codes.length).toBe(1);
  });
});
