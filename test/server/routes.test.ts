import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, testApp, TEST_STORE, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(async () => t.close());

const SAMPLE = [[1.2, 3.4, 5.6], [7.8, 9.0, 2.1]];

describe('the contract', () => {
  it('GET / is the health check', async () => {
    const r = await json(t.app, 'GET', '/');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'healthy', service: 'Quantizer API' });
  });

  it('lists, creates (409 twice), deletes (403 default, 404 unknown) instances', async () => {
    expect((await json(t.app, 'GET', '/instances')).json()).toEqual(['default']);
    const c = await json(t.app, 'POST', '/instances/custom_quantizer', { quantization_type: 'INT8', num_bits: 8, symmetric: true });
    expect(c.statusCode).toBe(200);
    expect(c.json()).toEqual({ message: 'Quantizer instance custom_quantizer created successfully' });
    expect((await json(t.app, 'POST', '/instances/custom_quantizer', {})).statusCode).toBe(409);
    expect((await json(t.app, 'GET', '/instances')).json()).toEqual(['default', 'custom_quantizer']);
    expect((await json(t.app, 'DELETE', '/instances/default')).statusCode).toBe(403);
    expect((await json(t.app, 'DELETE', '/instances/nope')).statusCode).toBe(404);
    const d = await json(t.app, 'DELETE', '/instances/custom_quantizer');
    expect(d.json()).toEqual({ message: 'Quantizer instance custom_quantizer deleted successfully' });
    expect((await json(t.app, 'GET', '/instances')).json()).toEqual(['default']);
  });

  it('gets and replaces the config with every QuantizerConfigModel field', async () => {
    await json(t.app, 'POST', '/instances/cfg', { num_bits: 6 });
    const g = (await json(t.app, 'GET', '/instances/cfg/config')).json();
    for (const f of ['quantization_type', 'quantization_mode', 'num_bits', 'symmetric', 'enable_cache', 'cache_size', 'enable_mixed_precision', 'per_channel', 'buffer_size', 'use_percentile', 'min_percentile', 'max_percentile', 'error_on_nan', 'error_on_inf', 'optimize_memory', 'enable_requantization', 'requantization_threshold', 'outlier_threshold', 'skip_layers', 'quantize_bias', 'quantize_weights_only', 'mixed_precision_layers', 'custom_quantization_config']) {
      expect(g, f).toHaveProperty(f);
    }
    expect(g.num_bits).toBe(6);
    const p = await json(t.app, 'PUT', '/instances/cfg/config', { quantization_type: 'UINT8', symmetric: true });
    expect(p.statusCode).toBe(200);
    expect(p.json()).toEqual({ message: 'Configuration for quantizer instance cfg updated successfully' });
    const g2 = (await json(t.app, 'GET', '/instances/cfg/config')).json();
    expect(g2).toMatchObject({ quantization_type: 'UINT8', symmetric: true, num_bits: 8 });
  });

  it('quantizes the contract example and reports the parameters used', async () => {
    const r = await json(t.app, 'POST', '/instances/default/quantize', { data: SAMPLE, validate: true });
    expect(r.statusCode).toBe(200);
    const b = r.json();
    expect(b.quantization_type).toBe('INT8');
    expect(b.original_shape).toEqual([2, 3]);
    expect(b.dtype).toBe('int8');
    // Asymmetric int8 over [0, 9]: scale = 9/255, zero_point = -128.
    expect(b.scale).toBeCloseTo(9 / 255, 6);
    expect(b.zero_point).toBe(-128);
    const expected = SAMPLE.map((row) => row.map((x) => Math.min(127, Math.max(-128, Math.round(x / Math.fround(9 / 255)) - 128))));
    expect(b.data).toEqual(expected);
    expect(b.parameters).toMatchObject({ dtype: 'int8', scale: [b.scale], zero_point: [-128], format: 'quantkit.params' });
  });

  it('quantizes arrays of any rank', async () => {
    const r = await json(t.app, 'POST', '/instances/default/quantize', { data: [[[0, 1], [2, 3]], [[4, 5], [6, 7]]] });
    expect(r.json().original_shape).toEqual([2, 2, 2]);
    expect(r.json().data).toHaveLength(2);
    const r1 = await json(t.app, 'POST', '/instances/default/quantize', { data: [0, 1, 2] });
    expect(r1.json().original_shape).toEqual([3]);
  });

  it('dequantizes and quantize_dequantizes', async () => {
    const q = (await json(t.app, 'POST', '/instances/default/quantize', { data: SAMPLE })).json();
    const d = await json(t.app, 'POST', '/instances/default/dequantize', { data: q.data });
    expect(d.statusCode).toBe(200);
    expect(d.json().original_shape).toEqual([2, 3]);
    const back = d.json().data as number[][];
    back.flat().forEach((v, i) => expect(Math.abs(v - SAMPLE.flat()[i])).toBeLessThanOrEqual(q.scale / 2 + 1e-6));
    const qd = await json(t.app, 'POST', '/instances/default/quantize_dequantize', { data: SAMPLE });
    expect(qd.statusCode).toBe(200);
    expect(qd.json().data).toEqual(back);
  });

  it('calibrates, computes parameters, and reports stats with the nine fields', async () => {
    await json(t.app, 'POST', '/instances/cal', { quantization_mode: 'CALIBRATED' });
    const c = await json(t.app, 'POST', '/instances/cal/calibrate', { data: [[[0, 1], [2, 3]], [[-1, 4], [2, 2]]] });
    expect(c.statusCode).toBe(200);
    const cb = c.json();
    expect(cb.message).toBe('Calibration successful');
    expect(cb.scale).toBeCloseTo(5 / 255, 6);
    expect(typeof cb.zero_point).toBe('number');
    const q = (await json(t.app, 'POST', '/instances/cal/quantize', { data: [[10, -10]] })).json();
    expect(q.data).toEqual([[127, -128]]);
    expect(q.scale).toBe(cb.scale);
    const cp = await json(t.app, 'POST', '/instances/default/compute_params', { data: [[0, 10]] });
    expect(cp.json().scale).toBeCloseTo(10 / 255, 6);
    expect(cp.json()).toHaveProperty('zero_point');
    const s = (await json(t.app, 'GET', '/instances/cal/stats')).json();
    for (const f of ['clipped_values', 'total_values', 'quantize_calls', 'dequantize_calls', 'cache_hits', 'cache_misses', 'last_scale', 'last_zero_point', 'processing_time_ms']) {
      expect(s, f).toHaveProperty(f);
    }
    expect(s.quantize_calls).toBe(1);
    expect(s.clipped_values).toBe(2);
    // Kept in the shared store on PostgreSQL (every replica's counts); this process's own on SQLite.
    expect(s.persisted).toBe(TEST_STORE === 'postgres');
    expect((await json(t.app, 'POST', '/instances/cal/reset_stats')).json()).toEqual({ message: 'Statistics reset successfully' });
    expect((await json(t.app, 'GET', '/instances/cal/stats')).json().quantize_calls).toBe(0);
    expect((await json(t.app, 'POST', '/instances/cal/clear_cache')).json()).toEqual({ message: 'Cache cleared successfully' });
  });

  it('exports parameters, and an import reproduces the codes', async () => {
    await json(t.app, 'POST', '/instances/src', { quantization_mode: 'CALIBRATED', symmetric: true });
    await json(t.app, 'POST', '/instances/src/calibrate', { data: [[[0.5, -3.25, 2]]] });
    const exported = (await json(t.app, 'GET', '/instances/src/parameters')).json();
    const data = { data: [[0.1, -2.9, 1.7, 5]] };
    const codes = (await json(t.app, 'POST', '/instances/src/quantize', data)).json().data;
    await json(t.app, 'POST', '/instances/dst', { quantization_mode: 'CALIBRATED', symmetric: true });
    expect((await json(t.app, 'POST', '/instances/dst/quantize', data)).statusCode).toBe(409);
    const imp = await json(t.app, 'POST', '/instances/dst/parameters', { parameters: exported });
    expect(imp.json()).toEqual({ message: 'Parameters imported successfully' });
    expect((await json(t.app, 'POST', '/instances/dst/quantize', data)).json().data).toEqual(codes);
    const bad = await json(t.app, 'POST', '/instances/dst/parameters', { parameters: { format: 'something else' } });
    expect(bad.statusCode).toBe(422);
  });

  it('shows a layer\'s parameters', async () => {
    await json(t.app, 'POST', '/instances/layers', { custom_quantization_config: { fc1: { quantization_type: 'INT16' } } });
    await json(t.app, 'POST', '/instances/layers/quantize', { data: [[1, 2]], layer_name: 'fc1' });
    const r = await json(t.app, 'GET', '/instances/layers/layer_params/fc1');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ layer_name: 'fc1', effective: { quantization_type: 'INT16' }, last: { dtype: 'int16' } });
  });

  it('serves /documentation, /openapi.json and /docs', async () => {
    const doc = (await json(t.app, 'GET', '/documentation')).json();
    expect(doc.openapi).toBe('/openapi.json');
    expect(doc.endpoints).toContain('POST /instances/{instance_id}/upload_numpy');
    expect(doc.endpoints).toContain('GET /instances/{instance_id}/layer_params/{layer_name}');
    const o = (await json(t.app, 'GET', '/openapi.json')).json();
    expect(o.openapi).toMatch(/^3\./);
    const q = o.paths['/instances/{instance_id}/quantize'].post;
    const data = q.requestBody.content['application/json'].schema.properties.data;
    expect(data.type).toBe('array');
    expect(q.requestBody.content).toHaveProperty('application/x-npy');
    expect((await json(t.app, 'GET', '/docs')).statusCode).toBeLessThan(400);
  });

  it('answers 404 for an unknown instance on every route', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/instances/ghost/config'],
      ['PUT', '/instances/ghost/config', {}],
      ['POST', '/instances/ghost/quantize', { data: [[1]] }],
      ['POST', '/instances/ghost/dequantize', { data: [[1]] }],
      ['POST', '/instances/ghost/quantize_dequantize', { data: [[1]] }],
      ['POST', '/instances/ghost/calibrate', { data: [[[1]]] }],
      ['GET', '/instances/ghost/calibration'],
      ['POST', '/instances/ghost/compute_params', { data: [[1]] }],
      ['GET', '/instances/ghost/stats'],
      ['POST', '/instances/ghost/clear_cache'],
      ['POST', '/instances/ghost/reset_stats'],
      ['GET', '/instances/ghost/parameters'],
      ['POST', '/instances/ghost/parameters', { parameters: {} }],
      ['GET', '/instances/ghost/layer_params/fc1'],
      ['DELETE', '/instances/ghost'],
    ];
    for (const [m, u, b] of routes) {
      const r = await json(t.app, m as 'GET', u, b);
      expect(r.statusCode, `${m} ${u}`).toBe(404);
      expect(r.json().detail).toBe('Quantizer instance ghost not found');
    }
  });
});
