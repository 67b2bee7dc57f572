import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { encodeNpy } from '../../src/formats/npy.js';
import { importBuilt } from './built-app.js';

// Beyond vitest's 5 s default on a 2-core machine: this file fills a size-capped store with large arrays, inline and in the offload worker.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

// The built service (the offload worker runs compiled JavaScript), on a store capped at its size with
// SQLite's max_page_count: a write that needs one more page fails with SQLITE_FULL exactly as on a
// full disk. Every write below grows its row by well over a page (4 KiB), so each must fail.

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const CHANNELS = 512;
const row = (k: number, amp: number) => Array.from({ length: CHANNELS }, (_, i) => amp * Math.sin(i * 0.37 + k));
const LAYERS = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`block${i}.weight`, { quantization_type: 'INT16' }]));
const REQUANT = { quantization_mode: 'CALIBRATED', enable_requantization: true, requantization_threshold: 0.001, per_channel: true, channel_dim: 1 };

async function open(dir: string, offloadThreshold: number, maxPageCount?: number): Promise<FastifyInstance> {
  const { buildApp } = await importBuilt<typeof import('../../src/server/app.js')>('server/app.js');
  const { SqliteStore } = await importBuilt<typeof import('../../src/node/store/sqlite-store.js')>('node/store/sqlite-store.js');
  return buildApp({ store: new SqliteStore(dir, { maxPageCount }), logger: false, offloadThreshold });
}

function call(app: FastifyInstance, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) {
  return app.inject({ method, url, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) }) });
}

function upload(app: FastifyInstance, url: string, x: number[][]) {
  const npy = Buffer.from(encodeNpy({ dtype: 'float32', shape: [x.length, CHANNELS], data: Float32Array.from(x.flat()) }));
  const boundary = 'B0undary';
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.npy"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    npy,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return app.inject({ method: 'POST', url, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
}

/** Everything a client can read of the instances that survives a restart. */
async function state(app: FastifyInstance): Promise<unknown> {
  const ids = (await call(app, 'GET', '/instances')).json() as string[];
  const out: Record<string, unknown> = { ids };
  for (const id of ids) {
    const calibration = await call(app, 'GET', `/instances/${id}/calibration`);
    out[id] = {
      config: (await call(app, 'GET', `/instances/${id}/config`)).json(),
      parameters: (await call(app, 'GET', `/instances/${id}/parameters`)).json(),
      calibration: [calibration.statusCode, calibration.json()],
    };
  }
  return out;
}

describe('a full disk', () => {
  for (const [where, threshold] of [
    ['inline', Number.MAX_SAFE_INTEGER],
    ['in the offload worker', 1],
  ] as const) {
    it(`${where}: every write it refuses answers 507 with a detail and changes nothing, served or stored`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'quantkit-full-'));
      dirs.push(dir);
      let app = await open(dir, threshold);
      expect((await call(app, 'POST', '/instances/req', REQUANT)).statusCode).toBe(200);
      expect((await call(app, 'POST', '/instances/req/calibrate', { data: [[row(0, 1), row(1, 1)]] })).statusCode).toBe(200);
      const reqParameters = (await call(app, 'GET', '/instances/req/parameters')).json();
      await app.close();
      // No free pages left inside the file either: the cap then leaves no room at all.
      const db = new Database(join(dir, 'quantkit.sqlite'));
      db.exec('VACUUM');
      db.close();

      app = await open(dir, threshold, 1);
      const before = await state(app);
      const outliers = [row(2, 30), row(3, 30)];
      const refused = {
        'PUT config': await call(app, 'PUT', '/instances/default/config', { quantization_type: 'UINT8', custom_quantization_config: LAYERS }),
        calibrate: await call(app, 'POST', '/instances/default/calibrate', { data: [[row(4, 2), row(5, 2)]], channel_dim: 1 }),
        'parameters import': await call(app, 'POST', '/instances/default/parameters', { parameters: reqParameters }),
        create: await call(app, 'POST', '/instances/big', { custom_quantization_config: LAYERS }),
        'quantize (requantizes)': await call(app, 'POST', '/instances/req/quantize', { data: outliers }),
        'quantize_dequantize (requantizes)': await call(app, 'POST', '/instances/req/quantize_dequantize', { data: outliers }),
        'upload (requantizes)': await upload(app, '/instances/req/upload_numpy?operation=quantize', outliers),
      };
      for (const [what, r] of Object.entries(refused)) {
        expect([what, r.statusCode]).toEqual([what, 507]);
        expect(r.json().detail).toMatch(/^the instance store is full \(no space left on its disk\): .* was not saved and nothing changed$/);
      }
      expect(await state(app)).toEqual(before);
      // Requests that write nothing still answer; the last-used parameters this one leaves cannot be
      // saved at shutdown either, and the service still closes.
      expect((await call(app, 'POST', '/instances/req/quantize', { data: [row(0, 0.5), row(1, 0.5)] })).json().clipped).toBe(0);
      expect((await call(app, 'GET', '/')).statusCode).toBe(200);
      await app.close();

      app = await open(dir, threshold);
      expect(await state(app)).toEqual(before);
      // With room again, the same writes succeed.
      expect((await call(app, 'PUT', '/instances/default/config', { quantization_type: 'UINT8', custom_quantization_config: LAYERS })).statusCode).toBe(200);
      expect((await call(app, 'POST', '/instances/req/quantize', { data: outliers })).statusCode).toBe(200);
      await app.close();
    });
  }
});
