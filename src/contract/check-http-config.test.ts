import { describe, expect, it } from 'vitest';
import { checkHttpConfig } from './check-http-config.js';

describe('checkHttpConfig (what the page checks its form with)', () => {
  it('accepts a valid snake_case config and gives the engine\'s config', () => {
    const r = checkHttpConfig({ quantization_type: 'int4', use_percentile: true });
    expect(r.ok && r.config).toMatchObject({ quantizationType: 'INT4', numBits: 4, usePercentile: true });
  });

  it('puts a cross-field problem on its field: num_bits above the type\'s width', () => {
    // The page's former per-field check passed 12 (within 2..16) and named no field; the engine's rule is the field's.
    expect(checkHttpConfig({ quantization_type: 'INT8', num_bits: 12 })).toEqual({
      ok: false,
      issues: [{ field: 'num_bits', path: ['num_bits'], message: 'expected at most 8 bits for INT8' }],
    });
    expect(checkHttpConfig({ min_percentile: 60, max_percentile: 40 })).toEqual({
      ok: false,
      issues: [{ field: 'min_percentile', path: ['min_percentile'], message: 'expected minPercentile < maxPercentile (40)' }],
    });
  });

  it('names fields and layer overrides by the contract\'s names, layer names as given ("__proto__" too)', () => {
    const body = JSON.parse('{"num_bits": 1, "custom_quantization_config": {"__proto__": {"num_bits": 99}, "constructor": {"per_channel": 1}}, "outlier_threshold": 0}') as Record<string, unknown>;
    const r = checkHttpConfig(body);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues).toEqual([
      { field: 'num_bits', path: ['num_bits'], message: 'expected an integer in 2..16' },
      { field: 'outlier_threshold', path: ['outlier_threshold'], message: 'expected a positive number of standard deviations or null' },
      { field: 'custom_quantization_config', path: ['custom_quantization_config', '__proto__', 'num_bits'], message: 'expected an integer in 2..16' },
      { field: 'custom_quantization_config', path: ['custom_quantization_config', 'constructor', 'per_channel'], message: 'expected true or false' },
    ]);
  });

  it('reports an unknown field by its name', () => {
    expect(checkHttpConfig({ num_bitz: 3 })).toEqual({ ok: false, issues: [{ field: 'num_bitz', path: ['num_bitz'], message: 'unknown field' }] });
  });
});
