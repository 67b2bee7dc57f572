import { expect, test } from 'vitest';
import { parseQuantizerConfig, QUANTIZER_CONFIG_DEFAULTS } from '../engine/config.js';
import { CONFIG_FIELD_NAMES, configFromSnakeCase, configToSnakeCase } from './config-names.js';
import { STATS_FIELD_NAMES } from '../engine/quantizer-stats.js';

test('every config field has a snake_case name, and names are distinct', () => {
  expect(Object.keys(CONFIG_FIELD_NAMES).sort()).toEqual(Object.keys(QUANTIZER_CONFIG_DEFAULTS).sort());
  expect(new Set(Object.values(CONFIG_FIELD_NAMES)).size).toBe(Object.keys(CONFIG_FIELD_NAMES).length);
  for (const s of Object.values(CONFIG_FIELD_NAMES)) expect(s).toMatch(/^[a-z]+(_[a-z0-9]+)*$/);
});

test('the reference QuantizerConfigModel field names are the snake_case names', () => {
  const reference = ['quantization_type', 'quantization_mode', 'num_bits', 'symmetric', 'enable_cache', 'cache_size', 'enable_mixed_precision', 'per_channel', 'buffer_size', 'use_percentile', 'min_percentile', 'max_percentile', 'error_on_nan', 'error_on_inf', 'optimize_memory', 'enable_requantization', 'requantization_threshold', 'outlier_threshold', 'skip_layers', 'quantize_bias', 'quantize_weights_only', 'mixed_precision_layers', 'custom_quantization_config'];
  for (const r of reference) expect(Object.values(CONFIG_FIELD_NAMES)).toContain(r);
  expect(Object.values(STATS_FIELD_NAMES).slice(0, 9)).toEqual(['clipped_values', 'total_values', 'quantize_calls', 'dequantize_calls', 'cache_hits', 'cache_misses', 'last_scale', 'last_zero_point', 'processing_time_ms']);
});

test('snake_case -> camelCase -> snake_case round-trips, including custom layer overrides', () => {
  const snake = { quantization_type: 'INT8', num_bits: 6, error_on_nan: false, custom_quantization_config: { 'fc.weight': { quantization_type: 'INT16', num_bits: 12, per_channel: true } }, skip_layers: ['head'] };
  const camel = configFromSnakeCase(snake);
  expect(camel).toEqual({ quantizationType: 'INT8', numBits: 6, errorOnNan: false, customQuantizationConfig: { 'fc.weight': { quantizationType: 'INT16', numBits: 12, perChannel: true } }, skipLayers: ['head'] });
  expect(configToSnakeCase(camel)).toEqual(snake);
  const full = parseQuantizerConfig(camel);
  expect(parseQuantizerConfig(configFromSnakeCase(configToSnakeCase(full)))).toEqual(full);
});

test('unknown keys keep their spelling so validation names them', () => {
  expect(configFromSnakeCase({ num_bitz: 3 })).toEqual({ num_bitz: 3 });
  expect(() => parseQuantizerConfig(configFromSnakeCase({ num_bitz: 3 }))).toThrow('unknown field "num_bitz"');
});
