import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { encodeNpy } from '../../src/formats/npy.js';
import { json, testApp, testStore, type TestApp } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file calibrates on generated batches and reopens the SQLite store in a new app.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(async () => t.close());

const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);

/** Eight batches of 1x100 values in [-1, 1) plus one outlier at 12. */
function batches(): number[][][] {
  const out = Array.from({ length: 8 }, (_, b) => [Array.from({ length: 100 }, (_, i) => Math.sin(i * 1.3 + b * 0.7))]);
  out[3][0][50] = 12;
  return out;
}

interface Answer {
  scale: number;
  zero_point: number;
  scales: number[];
  min: number;
  max: number;
  observed_min: number;
  observed_max: number;
  count: number;
  clipped_fraction: number;
  mse: number;
  sqnr_db: number | null;
  calibrated_at: string;
  layer_name: string | null;
  histogram: { of: string; edges: number[]; counts: number[] };
  data_histogram: { of: string; edges: number[]; counts: number[]; non_finite: number };
  parameters: { scale: number[] };
}

describe('the last calibration of an instance', () => {
  it('is a 404 with a JSON detail until the instance is calibrated', async () => {
    await json(t.app, 'POST', '/instances/fresh', { quantization_mode: 'CALIBRATED' });
    const r = await json(t.app, 'GET', '/instances/fresh/calibration');
    expect(r.statusCode).toBe(404);
    expect(r.headers['content-type']).toMatch(/application\/json/);
    expect(r.json().detail).toBe('Quantizer instance fresh has not been calibrated yet (POST /instances/fresh/calibrate)');
  });

  it('calibrate answers the histogram of the data over the observed range (clipped tails visible), and GET repeats that answer', async () => {
    await json(t.app, 'POST', '/instances/pct', { quantization_mode: 'CALIBRATED', use_percentile: true, min_percentile: 1, max_percentile: 99 });
    const c = await json(t.app, 'POST', '/instances/pct/calibrate', { data: batches() });
    expect(c.statusCode).toBe(200);
    const a = c.json() as Answer;
    expect(a).toMatchObject({ message: 'Calibration successful', format: 'quantkit.calibration', version: 1, layer_name: null, count: 800, batches: 8, method: 'percentile', dtype: 'int8' });
    expect(Date.parse(a.calibrated_at)).not.toBeNaN();
    const { edges, counts } = a.data_histogram;
    expect(a.data_histogram.of).toBe('data');
    expect(counts.length).toBe(128);
    expect(edges.length).toBe(129);
    expect(sum(counts)).toBe(800);
    expect(a.data_histogram.non_finite).toBe(0);
    expect(edges[0]).toBeLessThanOrEqual(a.observed_min);
    expect(edges.at(-1)).toBeGreaterThanOrEqual(12);
    expect(a.max).toBeLessThan(12);
    // The outlier sits in the last bin, beyond the chosen range: a clipped tail.
    expect(counts.at(-1)).toBe(1);
    expect(edges.at(-2)!).toBeGreaterThan(a.max);
    expect(a.clipped_fraction).toBeGreaterThan(0);
    expect(a.histogram.of).toBe('error');
    expect(sum(a.histogram.counts)).toBe(800);
    expect(a.parameters.scale[0]).toBe(a.scale);

    const g = await json(t.app, 'GET', '/instances/pct/calibration');
    expect(g.statusCode).toBe(200);
    expect(g.json()).toEqual(a);
  });

  it('keeps only the last one, .npy bodies and layer calibrations included', async () => {
    await json(t.app, 'POST', '/instances/twice', { quantization_mode: 'CALIBRATED' });
    await json(t.app, 'POST', '/instances/twice/calibrate', { data: [[[0, 1, 2]]] });
    const npy = encodeNpy({ dtype: 'float32', shape: [2, 3], data: Float32Array.of(-4, 0, 1, 2, 3, 5) });
    const c = await t.app.inject({ method: 'POST', url: '/instances/twice/calibrate?layer_name=fc1', headers: { 'content-type': 'application/x-npy' }, payload: Buffer.from(npy) });
    expect(c.statusCode).toBe(200);
    const g = (await json(t.app, 'GET', '/instances/twice/calibration')).json() as Answer;
    expect(g).toEqual(c.json());
    expect(g.layer_name).toBe('fc1');
    expect([g.observed_min, g.observed_max, g.count]).toEqual([-4, 5, 6]);
    expect([g.data_histogram.edges[0], g.data_histogram.edges.at(-1)]).toEqual([-4, 5]);
  });

  it('per-channel: one data histogram over all channels, a scale per channel', async () => {
    await json(t.app, 'POST', '/instances/pc', { quantization_mode: 'CALIBRATED', per_channel: true, channel_dim: 1 });
    const a = (await json(t.app, 'POST', '/instances/pc/calibrate', { data: [[[1, -40], [2, 80]], [[-1, 20], [3, 40]]] })).json() as Answer;
    expect(a.scales.length).toBe(2);
    expect([a.data_histogram.edges[0], a.data_histogram.edges.at(-1)]).toEqual([-40, 80]);
    expect(sum(a.data_histogram.counts)).toBe(8);
  });

  it('counts NaN apart when the config lets it through (null where JSON has no number)', async () => {
    await json(t.app, 'POST', '/instances/nan', { quantization_mode: 'CALIBRATED', error_on_nan: false });
    const a = (await json(t.app, 'POST', '/instances/nan/calibrate', '{"data": [[[1, NaN, 2, 3]]]}')).json() as Answer;
    expect(a.data_histogram.non_finite).toBe(1);
    expect(sum(a.data_histogram.counts)).toBe(3);
    expect((await json(t.app, 'GET', '/instances/nan/calibration')).json()).toEqual(a);
  });

  it('a deleted instance takes its calibration with it', async () => {
    await json(t.app, 'POST', '/instances/gone', {});
    await json(t.app, 'POST', '/instances/gone/calibrate', { data: [[[1, 2]]] });
    await json(t.app, 'DELETE', '/instances/gone');
    await json(t.app, 'POST', '/instances/gone', {});
    expect((await json(t.app, 'GET', '/instances/gone/calibration')).statusCode).toBe(404);
  });

  it('is in the OpenAPI document, with the answer schema of calibrate', async () => {
    const o = (await json(t.app, 'GET', '/openapi.json')).json();
    const get = o.paths['/instances/{instance_id}/calibration'].get;
    const props = get.responses['200'].content['application/json'].schema.properties;
    expect(Object.keys(props)).toEqual(expect.arrayContaining(['scale', 'zero_point', 'mse', 'sqnr_db', 'clipped_fraction', 'data_histogram', 'calibrated_at']));
    expect(get.responses).toHaveProperty('404');
    expect(o.paths['/instances/{instance_id}/calibrate'].post.responses['200'].content['application/json'].schema.properties).toEqual(props);
  });
});

describe('across a restart', () => {
  it('the store gives the new process the same last calibration', async () => {
    const own = await testApp();
    try {
      await json(own.app, 'POST', '/instances/kept', { quantization_mode: 'CALIBRATED', symmetric: true });
      const a = (await json(own.app, 'POST', '/instances/kept/calibrate', { data: batches() })).json();
      await own.app.close();
      const again = await buildApp({ store: await testStore(own.dir), logger: false });
      try {
        const g = await json(again, 'GET', '/instances/kept/calibration');
        expect(g.statusCode).toBe(200);
        expect(g.json()).toEqual(a);
        expect((await json(again, 'GET', '/instances/default/calibration')).statusCode).toBe(404);
      } finally {
        await again.close();
      }
    } finally {
      await own.close().catch(() => undefined);
    }
  });
});
