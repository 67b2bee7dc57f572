import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { exited, killLeftovers, MAIN, startServe, type ServeProcess } from './serve-process.js';
import { encodeNpy } from '../../src/formats/npy.js';

// Beyond vitest's 5 s default on a 2-core machine: this file starts, kills and restarts real `quantkit serve` processes.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

// A real process: the built CLI (the tests' global setup builds it when stale), on an ephemeral loopback port.
const dir = mkdtempSync(join(tmpdir(), 'quantkit-persist-'));
const children: ChildProcessWithoutNullStreams[] = [];

afterAll(() => {
  killLeftovers(children);
  rmSync(dir, { recursive: true, force: true });
});

function start(extraEnv: Record<string, string> = {}, dataDir = dir): Promise<ServeProcess> {
  return startServe(['--data-dir', dataDir, '--log-level', 'silent'], children, extraEnv);
}

async function call(url: string, method: string, path: string, body?: unknown) {
  const r = await fetch(url + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> & unknown[] };
}

const DATA = { data: [[-2.5, 0.1, 1.7, 9.25]] };

describe('persistence across a real process', () => {
  it('instances, configs and calibrated parameters survive kill -9; last-used ones a SIGTERM', async () => {
    let s = await start();
    expect((await call(s.url, 'POST', '/instances/cal', { quantization_mode: 'CALIBRATED', symmetric: true, num_bits: 6 })).status).toBe(200);
    expect((await call(s.url, 'POST', '/instances/cal/calibrate', { data: [[[0.5, -3, 2, 8]], [[1, 1, 1, -4]]] })).status).toBe(200);
    const codes = (await call(s.url, 'POST', '/instances/cal/quantize', DATA)).body.data;
    await call(s.url, 'POST', '/instances/cal/quantize', DATA);
    expect((await call(s.url, 'GET', '/instances/cal/stats')).body.quantize_calls).toBe(2);
    expect((await call(s.url, 'POST', '/instances/gone', {})).status).toBe(200);
    expect((await call(s.url, 'DELETE', '/instances/gone')).status).toBe(200);
    // Answered writes are durable: kill -9 right after the last answer.
    s.child.kill('SIGKILL');
    await exited(s.child);

    s = await start();
    expect((await call(s.url, 'GET', '/instances')).body).toEqual(['default', 'cal']);
    expect((await call(s.url, 'GET', '/instances/cal/config')).body).toMatchObject({ quantization_mode: 'CALIBRATED', symmetric: true, num_bits: 6 });
    expect((await call(s.url, 'POST', '/instances/cal/quantize', DATA)).body.data).toEqual(codes);
    // Statistics live in the process: one call since the restart.
    expect((await call(s.url, 'GET', '/instances/cal/stats')).body.quantize_calls).toBe(1);

    // DYNAMIC mode's last-used parameters are saved by a graceful stop.
    const q = (await call(s.url, 'POST', '/instances/default/quantize', DATA)).body;
    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toEqual({ code: 0, signal: null });

    s = await start();
    expect((await call(s.url, 'GET', '/instances/default/parameters')).body).toMatchObject({ instance: { last: { scale: [q.scale] } } });
    const dq = await call(s.url, 'POST', '/instances/default/dequantize', { data: q.data });
    expect(dq.status).toBe(200);
    expect((await call(s.url, 'GET', '/')).body).toEqual({ status: 'healthy', service: 'Quantizer API' });
    s.child.kill('SIGTERM');
    await exited(s.child);
  });
});

describe('requantization is durable', () => {
  it('parameters widened by quantize, quantize_dequantize or an upload survive kill -9', async () => {
    let s = await start();
    const CAL = { quantization_mode: 'CALIBRATED', enable_requantization: true, requantization_threshold: 0.001 };
    const outliers = [[-40, 0.5, 1, 55]];
    const npy = Buffer.from(encodeNpy({ dtype: 'float32', shape: [1, 4], data: Float32Array.from(outliers[0]) }));
    const widen: Record<string, () => Promise<number>> = {
      q: async () => (await call(s.url, 'POST', '/instances/q/quantize', { data: outliers })).status,
      qdq: async () => (await call(s.url, 'POST', '/instances/qdq/quantize_dequantize', { data: outliers })).status,
      up: async () => {
        const form = new FormData();
        form.append('file', new Blob([npy]), 'x.npy');
        return (await fetch(`${s.url}/instances/up/upload_numpy?operation=quantize_dequantize`, { method: 'POST', body: form })).status;
      },
      upq: async () => {
        const form = new FormData();
        form.append('file', new Blob([npy]), 'x.npy');
        return (await fetch(`${s.url}/instances/upq/upload_numpy?operation=quantize`, { method: 'POST', body: form })).status;
      },
    };
    const widened: Record<string, unknown> = {};
    for (const [id, call_] of Object.entries(widen)) {
      expect((await call(s.url, 'POST', `/instances/${id}`, CAL)).status).toBe(200);
      expect((await call(s.url, 'POST', `/instances/${id}/calibrate`, { data: [[[0.5, -1, 2, 1]]] })).status).toBe(200);
      const before = (await call(s.url, 'GET', `/instances/${id}/parameters`)).body;
      expect(await call_()).toBe(200);
      widened[id] = (await call(s.url, 'GET', `/instances/${id}/parameters`)).body;
      expect(widened[id]).not.toEqual(before);
      expect((await call(s.url, 'GET', `/instances/${id}/stats`)).body.requantizations).toBe(1);
    }
    s.child.kill('SIGKILL');
    await exited(s.child);
    s = await start();
    for (const id of Object.keys(widen)) expect((await call(s.url, 'GET', `/instances/${id}/parameters`)).body).toEqual(widened[id]);
    s.child.kill('SIGTERM');
    await exited(s.child);
  });
});

describe('graceful shutdown', () => {
  it('a request in flight at SIGTERM is answered, then the process exits 0', async () => {
    const s = await start();
    const body = Buffer.from(JSON.stringify({ data: [Array.from({ length: 5000 }, (_, i) => i / 10)] }));
    const { request } = await import('node:http');
    const u = new URL(s.url + '/instances/default/quantize');
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.write(body.subarray(0, 100));
      // The rest goes after the SIGTERM: the request is in flight when the server starts closing.
      setTimeout(() => {
        s.child.kill('SIGTERM');
        setTimeout(() => req.end(body.subarray(100)), 200);
      }, 200);
    });
    const r = await answer;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).original_shape).toEqual([1, 5000]);
    expect(await exited(s.child)).toEqual({ code: 0, signal: null });
  });
});

describe('config changes and stored records that cannot be loaded', () => {
  it('a config change after a quantize leaves a data dir that loads, after kill -9 and after SIGTERM', async () => {
    const own = mkdtempSync(join(dir, 'config-'));
    let s = await start({}, own);
    const changes: Record<string, Record<string, unknown>> = {
      u8: { quantization_type: 'UINT8' },
      b4: { num_bits: 4 },
      i16: { quantization_type: 'INT16' },
      f16: { quantization_type: 'FLOAT16' },
    };
    for (const [id, change] of Object.entries(changes)) {
      expect((await call(s.url, 'POST', `/instances/${id}`, {})).status).toBe(200);
      expect((await call(s.url, 'POST', `/instances/${id}/quantize`, DATA)).status).toBe(200);
      expect((await call(s.url, 'POST', `/instances/${id}/quantize_dequantize`, { ...DATA, layer_name: 'fc1' })).status).toBe(200);
      expect((await call(s.url, 'PUT', `/instances/${id}/config`, change)).status).toBe(200);
    }
    s.child.kill('SIGKILL');
    await exited(s.child);
    s = await start({}, own);
    for (const [id, change] of Object.entries(changes)) expect((await call(s.url, 'GET', `/instances/${id}/config`)).body).toMatchObject(change);
    // The default instance, through a graceful stop (which saves last-used parameters).
    expect((await call(s.url, 'POST', '/instances/default/quantize', DATA)).status).toBe(200);
    expect((await call(s.url, 'PUT', '/instances/default/config', { quantization_type: 'UINT8' })).status).toBe(200);
    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toEqual({ code: 0, signal: null });
    s = await start({}, own);
    expect((await call(s.url, 'GET', '/instances/default/config')).body).toMatchObject({ quantization_type: 'UINT8' });
    const listed = (await call(s.url, 'GET', '/instances?detailed=true')).body as { available: boolean }[];
    expect(listed.every((e) => e.available)).toBe(true);
    s.child.kill('SIGTERM');
    await exited(s.child);
  });

  it('starts with unreadable records, the default one included: reports them, serves the rest, keeps them byte for byte', async () => {
    const own = mkdtempSync(join(dir, 'unloadable-'));
    let s = await start({}, own);
    expect((await call(s.url, 'POST', '/instances/cal', { quantization_mode: 'CALIBRATED' })).status).toBe(200);
    expect((await call(s.url, 'POST', '/instances/cal/calibrate', { data: [[[0.5, -3, 2, 8]]] })).status).toBe(200);
    const codes = (await call(s.url, 'POST', '/instances/cal/quantize', DATA)).body.data;
    s.child.kill('SIGTERM');
    await exited(s.child);
    // A default row that does not parse, and parameters of a format version this quantkit does not read.
    const file = join(own, 'quantkit.sqlite');
    let db = new Database(file);
    db.prepare("UPDATE instances SET config = '{\"quantizationType\": ' WHERE id = 'default'").run();
    db.prepare('INSERT INTO instances (id, config, parameters, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run('future', '{}', '{"format": "quantkit.quantizer-parameters", "version": 7}', Date.now(), Date.now());
    const rows = () => db.prepare("SELECT * FROM instances WHERE id IN ('default', 'future') ORDER BY id").all();
    const before = rows();
    db.close();

    s = await start({}, own);
    const err = await s.stderrUntil(/'future' cannot be loaded.*\n/);
    expect(err).toMatch(/stored instance 'default' cannot be loaded \(.*JSON.*\); kept unchanged, serving the others/);
    expect(err).toMatch(/stored instance 'future' cannot be loaded \(parameters.version: unsupported version 7/);
    expect((await call(s.url, 'POST', '/instances/cal/quantize', DATA)).body.data).toEqual(codes);
    expect((await call(s.url, 'GET', '/instances')).body).toEqual(['default', 'cal', 'future']);
    const listed = (await call(s.url, 'GET', '/instances?detailed=true')).body as { instance_id: string; available: boolean; detail?: string }[];
    expect(listed.map((e) => [e.instance_id, e.available])).toEqual([['default', false], ['cal', true], ['future', false]]);
    for (const path of ['/instances/future', '/instances/future/config', '/instances/default/parameters']) {
      const r = await call(s.url, 'GET', path);
      expect(r.status).toBe(503);
      expect(r.body.detail).toMatch(/^stored instance '(future|default)' cannot be loaded: .*kept unchanged in the store/);
    }
    expect((await call(s.url, 'GET', '/instances/cal')).body).toMatchObject({ instance_id: 'cal', available: true, config: { quantization_mode: 'CALIBRATED' } });
    // Neither a create nor a write through the routes replaces them; a graceful stop leaves them too.
    expect((await call(s.url, 'POST', '/instances/future', {})).status).toBe(409);
    expect((await call(s.url, 'PUT', '/instances/default/config', {})).status).toBe(503);
    expect((await call(s.url, 'POST', '/instances/future/quantize', DATA)).status).toBe(503);
    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toEqual({ code: 0, signal: null });
    db = new Database(file, { readonly: true });
    expect(rows()).toEqual(before);
    db.close();
    // An explicit DELETE is the way to remove one.
    s = await start({}, own);
    expect((await call(s.url, 'DELETE', '/instances/future')).status).toBe(200);
    expect((await call(s.url, 'GET', '/instances')).body).toEqual(['default', 'cal']);
    s.child.kill('SIGTERM');
    await exited(s.child);
  });
});

describe('a stalled upload at SIGTERM', () => {
  it('is cut after the drain timeout; last-used parameters are saved and the process exits 0', async () => {
    const own = mkdtempSync(join(dir, 'drain-'));
    let s = await start({ QUANTKIT_DRAIN_TIMEOUT: '1' }, own);
    const q = (await call(s.url, 'POST', '/instances/default/quantize', DATA)).body;
    const u = new URL(s.url);
    const socket = connect(Number(u.port), u.hostname);
    const cut = new Promise<string>((resolve) => {
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString()));
      socket.on('close', () => resolve(got));
      socket.on('error', () => {});
    });
    // Half a body, then nothing: without a bound the stop would wait for it as long as the client likes.
    await new Promise<void>((resolve) =>
      socket.write('POST /instances/default/quantize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"data": [[1, ', () => resolve()),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toEqual({ code: 0, signal: null });
    // The stalled request was never answered; its connection was closed.
    expect(await cut).toBe('');
    expect(await s.stderrUntil(/drain timeout/)).toContain('quantkit serve: drain timeout, closing 1 connection(s) still open\n');
    s = await start({}, own);
    expect((await call(s.url, 'GET', '/instances/default/parameters')).body).toMatchObject({ instance: { last: { scale: [q.scale] } } });
    s.child.kill('SIGTERM');
    await exited(s.child);
    // Without a bound the stop waits as long as the client stalls: the test's timeout is what fails then.
  }, 45_000);
});

describe('quantkit serve options', () => {
  it('refuses a bad option before listening: exit 2 and one line naming it', async () => {
    const child = spawn(process.execPath, [MAIN, 'serve', '--data-dir', dir], { env: { ...process.env, QUANTKIT_BODY_LIMIT: 'lots' } });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    expect(await exited(child)).toEqual({ code: 2, signal: null });
    expect(err).toBe('quantkit: QUANTKIT_BODY_LIMIT: expected a size like 1048576, 512KiB or 256MiB, got "lots"\n');
  });

  it('takes the API key from the environment', async () => {
    const s = await start({ QUANTKIT_API_KEY: 'k3y' });
    expect((await call(s.url, 'GET', '/')).status).toBe(200);
    expect((await call(s.url, 'GET', '/instances')).status).toBe(401);
    const ok = await fetch(`${s.url}/instances`, { headers: { authorization: 'Bearer k3y' } });
    expect(ok.status).toBe(200);
    s.child.kill('SIGTERM');
    await exited(s.child);
  });
});
