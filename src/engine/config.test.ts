import { describe, expect, test } from 'vitest';
import { QuantError } from '../core/errors.js';
import { QUANT_BITS } from '../core/dtypes.js';
import { MAX_LAYER_NAMES, mergeQuantizerConfig, NUM_BITS_RANGE, parseQuantizerConfig, QUANTIZATION_MODES, QUANTIZATION_TYPES, QUANTIZER_CONFIG_DEFAULTS } from './config.js';

function configError(input: unknown): QuantError {
  try {
    parseQuantizerConfig(input);
  } catch (e) {
    expect(e).toBeInstanceOf(QuantError);
    expect((e as QuantError).code).toBe('INVALID_CONFIG');
    return e as QuantError;
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('parseQuantizerConfig', () => {
  test('defaults are the reference ones (INT8, DYNAMIC, 8 bits, asymmetric, cache on) and ours for the rest', () => {
    const c = parseQuantizerConfig({});
    expect(c).toEqual({ ...QUANTIZER_CONFIG_DEFAULTS, skipLayers: [], mixedPrecisionLayers: [], customQuantizationConfig: {} });
    expect(c.quantizationType).toBe('INT8');
    expect(c.quantizationMode).toBe('DYNAMIC');
    expect(c.numBits).toBe(8);
    expect(c.symmetric).toBe(false);
    expect(c.enableCache).toBe(true);
    expect(c.cacheSize).toBe(256);
    expect([c.minPercentile, c.maxPercentile]).toEqual([0.1, 99.9]);
    expect(parseQuantizerConfig(undefined)).toEqual(c);
  });

  test('the result is frozen, nested values too', () => {
    const c = parseQuantizerConfig({ skipLayers: ['a'], customQuantizationConfig: { b: { numBits: 4 } } });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.skipLayers)).toBe(true);
    expect(Object.isFrozen(c.customQuantizationConfig.b)).toBe(true);
  });

  test.each([
    ['INT8', 8], ['UINT8', 8], ['INT16', 16], ['INT4', 4], ['UINT4', 4], ['MIXED', 8], ['FLOAT16', 16], ['NONE', 16],
  ] as const)('numBits defaults to the width of %s', (t, bits) => {
    expect(parseQuantizerConfig({ quantizationType: t }).numBits).toBe(bits);
  });

  test('every type and mode is accepted, lower case too (the reference enum values)', () => {
    for (const t of QUANTIZATION_TYPES) expect(parseQuantizerConfig({ quantizationType: t.toLowerCase() }).quantizationType).toBe(t);
    for (const m of QUANTIZATION_MODES) expect(parseQuantizerConfig({ quantizationMode: m.toLowerCase() }).quantizationMode).toBe(m);
  });

  test('numBits narrower than the type is allowed (INT8 + 4 bits = int4 codes in int8 storage)', () => {
    expect(parseQuantizerConfig({ quantizationType: 'INT8', numBits: 4 }).numBits).toBe(4);
    expect(parseQuantizerConfig({ quantizationType: 'FLOAT16', numBits: 8 }).numBits).toBe(8);
  });

  test('errors name the field, what was expected and what was received', () => {
    expect(configError({ numBits: 20 }).message).toBe('numBits: expected an integer in 2..16, got 20');
    expect(configError({ numBits: 1 }).message).toBe('numBits: expected an integer in 2..16, got 1');
    expect(configError({ numBits: 7.5 }).message).toBe('numBits: expected an integer in 2..16, got 7.5');
    expect(configError({ numBits: '8' }).message).toBe('numBits: expected an integer in 2..16, got "8"');
    expect(configError({ quantizationType: 'INT3' }).message).toContain('quantizationType: expected one of INT8 | UINT8');
    expect(configError({ quantizationType: 'INT3' }).message).toContain('got "INT3"');
    expect(configError({ quantizationMode: 'FAST' }).message).toContain('quantizationMode: expected one of DYNAMIC');
    expect(configError({ quantizationType: 'INT8', numBits: 12 }).message).toBe('numBits: expected at most 8 bits for INT8, got 12');
    expect(configError({ quantizationType: 'UINT4', numBits: 5 }).message).toBe('numBits: expected at most 4 bits for UINT4, got 5');
    expect(configError({ cacheSize: 0 }).message).toBe('cacheSize: expected an integer in 1..65536, got 0');
    expect(configError({ symmetric: 'yes' }).message).toBe('symmetric: expected true or false, got "yes"');
    expect(configError({ requantizationThreshold: 2 }).message).toBe('requantizationThreshold: expected a fraction in [0, 1], got 2');
    expect(configError({ outlierThreshold: -1 }).message).toContain('outlierThreshold: expected a positive number');
    expect(configError({ skipLayers: 'conv1' }).message).toContain('skipLayers: expected an array of layer names');
    expect(configError({ bufferSize: -1 }).message).toContain('bufferSize: expected a non-negative integer');
    expect(configError({ nmBits: 8 }).message).toBe('config: unknown field "nmBits"');
    expect(configError([]).message).toContain('config: expected an object');
  });

  test('percentiles must lie in [0, 100] with min < max', () => {
    expect(configError({ minPercentile: -1 }).message).toBe('minPercentile: expected a number in [0, 100], got -1');
    expect(configError({ maxPercentile: 100.5 }).message).toBe('maxPercentile: expected a number in [0, 100], got 100.5');
    expect(configError({ minPercentile: 50, maxPercentile: 50 }).message).toBe('minPercentile: expected minPercentile < maxPercentile (50), got 50');
    expect(parseQuantizerConfig({ minPercentile: 0, maxPercentile: 100 }).maxPercentile).toBe(100);
  });

  test('several problems are all reported', () => {
    const m = configError({ numBits: 99, cacheSize: -3 }).message;
    expect(m).toContain('numBits:');
    expect(m).toContain('cacheSize:');
  });

  test('customQuantizationConfig entries are validated against their own type', () => {
    const c = parseQuantizerConfig({ customQuantizationConfig: { fc: { quantizationType: 'int16', numBits: 12, symmetric: true, perChannel: true } } });
    expect(c.customQuantizationConfig.fc).toEqual({ quantizationType: 'INT16', numBits: 12, symmetric: true, perChannel: true });
    expect(configError({ customQuantizationConfig: { fc: { numBits: 12 } } }).message).toBe('customQuantizationConfig.fc.numBits: expected at most 8 bits for INT8, got 12');
    expect(configError({ customQuantizationConfig: { fc: { bits: 4 } } }).message).toBe('customQuantizationConfig.fc: unknown field "bits"');
    expect(configError({ customQuantizationConfig: { fc: { quantizationType: 'MIXED' } } }).message).toContain('expected a concrete type');
    expect(configError({ customQuantizationConfig: { fc: { quantizationType: 'INT2' } } }).message).toContain('customQuantizationConfig.fc.quantizationType');
  });

  test('mixedPrecisionType is INT16 or FLOAT16', () => {
    expect(parseQuantizerConfig({ mixedPrecisionType: 'float16' }).mixedPrecisionType).toBe('FLOAT16');
    expect(configError({ mixedPrecisionType: 'INT8' }).message).toContain('mixedPrecisionType: expected one of INT16 | FLOAT16');
  });
});

describe('mergeQuantizerConfig', () => {
  test('applies a patch and validates the whole', () => {
    const base = parseQuantizerConfig({ cacheSize: 16 });
    const c = mergeQuantizerConfig(base, { symmetric: true });
    expect(c.symmetric).toBe(true);
    expect(c.cacheSize).toBe(16);
  });

  test('changing the type without numBits resets numBits to the new width', () => {
    const base = parseQuantizerConfig({ quantizationType: 'INT16' });
    expect(mergeQuantizerConfig(base, { quantizationType: 'INT8' }).numBits).toBe(8);
    expect(mergeQuantizerConfig(base, { quantizationType: 'INT8', numBits: 6 }).numBits).toBe(6);
    expect(mergeQuantizerConfig(parseQuantizerConfig({ numBits: 6 }), { symmetric: true }).numBits).toBe(6);
  });

  test('a bad patch is INVALID_CONFIG', () => {
    const base = parseQuantizerConfig({});
    expect(() => mergeQuantizerConfig(base, { numBits: 20 })).toThrow('numBits: expected an integer in 2..16, got 20');
    expect(() => mergeQuantizerConfig(base, 5)).toThrow('config: expected an object, got 5');
  });
});

test('an invalid type with bits reports the type, not a crash', () => {
  expect(() => parseQuantizerConfig({ quantizationType: 'INT3', numBits: 12 })).toThrow(/quantizationType: expected one of/);
  expect(() => parseQuantizerConfig({ customQuantizationConfig: { a: { quantizationType: 'X', numBits: 12 } } })).toThrow(/customQuantizationConfig\.a\.quantizationType/);
});

test('numBits takes exactly the widths core quantizes to (QUANT_BITS), at top level and per layer', () => {
  expect(NUM_BITS_RANGE).toEqual({ min: Math.min(...QUANT_BITS), max: Math.max(...QUANT_BITS) });
  for (const b of QUANT_BITS) {
    expect(parseQuantizerConfig({ quantizationType: 'INT16', numBits: b }).numBits).toBe(b);
    expect(parseQuantizerConfig({ quantizationType: 'INT16', customQuantizationConfig: { l: { numBits: b } } }).customQuantizationConfig.l.numBits).toBe(b);
  }
  for (const b of [NUM_BITS_RANGE.min - 1, NUM_BITS_RANGE.max + 1]) {
    expect(configError({ quantizationType: 'INT16', numBits: b }).message).toBe(`numBits: expected an integer in 2..16, got ${b}`);
    expect(configError({ customQuantizationConfig: { l: { numBits: b } } }).message).toBe(`customQuantizationConfig.l.numBits: expected an integer in 2..16, got ${b}`);
  }
});

test('layer lists are bounded as the HTTP contract documents (at most MAX_LAYER_NAMES names)', () => {
  const names = (n: number) => Array.from({ length: n }, (_, i) => `l${i}`);
  expect(parseQuantizerConfig({ skipLayers: names(MAX_LAYER_NAMES) }).skipLayers).toHaveLength(MAX_LAYER_NAMES);
  expect(configError({ mixedPrecisionLayers: names(MAX_LAYER_NAMES + 1) }).message).toMatch(/^mixedPrecisionLayers: expected at most 100000 layer names/);
});
