import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { encodeNpy } from '../../src/formats/npy.js';

// The worker runs compiled JavaScript, so this drives the built service (npm test builds first).
const DIST = join(import.meta.dirname, '../../dist');
const built = existsSync(join(DIST, 'server/offload-worker.js'));
const dirs: string[] = [];
const apps: FastifyInstance[] = [];
afterAll(async () => {
  for (const a of apps) await a.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function builtApp(offloadThreshold: number): Promise<FastifyInstance> {
  const { buildApp } = (await import(pathToFileURL(join(DIST, 'server/app.js')).href)) as typeof import('../../src/server/app.js');
  const { SqliteStore } = (await import(pathToFileURL(join(DIST, 'node/store/sqlite-store.js')).href)) as typeof import('../../src/node/store/sqlite-store.js');
  const dir = mkdtempSync(join(tmpdir(), 'quantkit-offload-'));
  dirs.push(dir);
  const app = await buildApp({ store: new SqliteStore(dir), logger: false, offloadThreshold });
  apps.push(app);
  return app;
}

function batches(n: number, size: number): number[][][] {
  return Array.from({ length: n }, (_, b) => [Array.from({ length: size }, (_, i) => Math.sin(i * 0.37 + b) * (1 + b) + (i % 97 === 0 ? 20 : 0))]);
}

const CONFIG = { quantization_mode: 'CALIBRATED', use_percentile: true, min_percentile: 1, max_percentile: 99 };

describe.skipIf(!built)('calibration in the worker thread', () => {
  it('gives the same report and parameters as calibrating inline', async () => {
    const inline = await builtApp(Number.MAX_SAFE_INTEGER);
    const worker = await builtApp(1);
    expect(worker.offloader.available).toBe(true);
    const body = { data: batches(3, 500) };
    const x = { data: [[-5, 0.25, 3, 40]] };
    const answers = [];
    for (const app of [inline, worker]) {
      await app.inject({ method: 'POST', url: '/instances/p', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(CONFIG) });
      const cal = await app.inject({ method: 'POST', url: '/instances/p/calibrate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      expect(cal.statusCode).toBe(200);
      const q = await app.inject({ method: 'POST', url: '/instances/p/quantize', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(x) });
      const params = await app.inject({ method: 'GET', url: '/instances/p/parameters' });
      // The worker's report is kept as the last calibration too, histogram of the data included.
      const last = await app.inject({ method: 'GET', url: '/instances/p/calibration' });
      expect(last.json()).toEqual(cal.json());
      const { calibrated_at, ...report } = cal.json() as Record<string, unknown>;
      expect(typeof calibrated_at).toBe('string');
      answers.push({ cal: report, q: q.json(), params: params.json() });
    }
    expect((answers[1].cal.data_histogram as { counts: number[] }).counts.reduce((a, b) => a + b, 0)).toBe(1500);
    expect(answers[1]).toEqual(answers[0]);
  });

  it('reports engine errors from the worker as 4xx', async () => {
    const app = await builtApp(1);
    await app.inject({ method: 'POST', url: '/instances/n', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(CONFIG) });
    const r = await app.inject({ method: 'POST', url: '/instances/n/calibrate', headers: { 'content-type': 'application/json' }, payload: '{"data": [[[1, NaN]]]}' });
    expect(r.statusCode).toBe(422);
    expect(r.json().code).toBe('NAN_INPUT');
  });

  it('GET / answers while a large calibration runs', async () => {
    const app = await builtApp(1 << 16);
    await app.inject({ method: 'POST', url: '/instances/big', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ quantization_mode: 'CALIBRATED', use_percentile: true }) });
    const n = 1 << 22;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sin(i) * 3;
    // A .npy body (an array of one batch) keeps parsing short, so the calibration itself is what runs long.
    const npy = Buffer.from(encodeNpy({ dtype: 'float32', shape: [1, 1024, 4096], data: x }));
    let calibrated = false;
    const cal = app
      .inject({ method: 'POST', url: '/instances/big/calibrate', headers: { 'content-type': 'application/x-npy' }, payload: npy })
      .then((r) => {
        calibrated = true;
        return r;
      });
    // Let the calibration request reach its handler (and the worker) first.
    await new Promise((r) => setTimeout(r, 50));
    const busyBefore = app.offloader.busy;
    const health = await app.inject({ method: 'GET', url: '/' });
    expect(health.statusCode).toBe(200);
    // Answered while the worker held the calibration, not after it.
    expect(busyBefore && app.offloader.busy).toBe(true);
    expect(calibrated).toBe(false);
    expect((await cal).statusCode).toBe(200);
  });
});

describe.skipIf(!built)('large JSON bodies (the built service)', () => {
  const rows = 600;
  const cols = 1000;
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = Math.fround(Math.sin(i * 0.001) * 4 + (i % 7) * 0.01);
  const nested = Array.from({ length: rows }, (_, r) => Array.from(x.subarray(r * cols, (r + 1) * cols)));

  it('gives exactly the codes of the .npy path for a body over 4 MiB', async () => {
    const app = await builtApp(Number.MAX_SAFE_INTEGER);
    const text = JSON.stringify({ validate: true, data: nested, layer_name: null });
    expect(text.length).toBeGreaterThan(4 << 20);
    const viaJson = await app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { 'content-type': 'application/json' }, payload: text });
    expect(viaJson.statusCode).toBe(200);
    const viaNpy = await app.inject({
      method: 'POST',
      url: '/instances/default/quantize',
      headers: { 'content-type': 'application/x-npy' },
      payload: Buffer.from(encodeNpy({ dtype: 'float32', shape: [rows, cols], data: x })),
    });
    expect(viaJson.json()).toEqual(viaNpy.json());
  });

  it('locates a ragged row or a string near the end of a large body', async () => {
    const app = await builtApp(Number.MAX_SAFE_INTEGER);
    const bad = nested.map((r, i) => (i === rows - 3 ? r.slice(1) : r));
    const r = await app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ data: bad }) });
    expect(r.statusCode).toBe(422);
    expect(r.json().detail[0].loc).toEqual(['body', 'data', rows - 3]);
    const str = nested.map((row, i) => (i === rows - 2 ? [...row.slice(0, 5), 'x', ...row.slice(6)] : row));
    const s = await app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ data: str }) });
    expect(s.json().detail[0]).toMatchObject({ loc: ['body', 'data', rows - 2, 5], msg: 'expected a number, got a string' });
  });

  it('parses rank-3 bodies too', async () => {
    const app = await builtApp(Number.MAX_SAFE_INTEGER);
    const cube = Array.from({ length: 3 }, () => nested.slice(0, 200));
    const r = await app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ data: cube }) });
    expect(r.statusCode).toBe(200);
    expect(r.json().original_shape).toEqual([3, 200, cols]);
  });
});
