import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { exited, killLeftovers, MAIN, startServe, type ServeProcess } from './serve-process.js';
import { Quantizer } from '../../src/engine/quantizer.js';
import { postgresUrl, testDatabase } from '../setup/test-database.js';

// Three replicas of the built service (real processes) on one PostgreSQL database, requests
// round-robin across them under concurrent load. Every answer must be what one instance would
// answer, the shared statistics exact, a config change on one replica must reach the others (how
// long it took is printed: timings are not asserted), and no acknowledged write may be lost when
// a replica is SIGKILLed in the middle of the load.

const children: ChildProcessWithoutNullStreams[] = [];
afterAll(() => {
  killLeftovers(children);
});

type Replica = ServeProcess;

function startReplica(databaseUrl: string, name: string): Promise<Replica> {
  return startServe(['--database-url', databaseUrl, '--replica-id', name, '--log-level', 'silent'], children);
}

async function call(r: Replica, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(r.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : JSON.parse(text) };
}

/** Runs tasks with at most `width` in flight. */
async function pool<T>(tasks: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]();
      }
    }),
  );
  return out;
}

/** Polls until check passes on r (each poll a request), returning the milliseconds it took. */
async function until(r: Replica, path: string, check: (body: any) => boolean): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) {
    const got = await call(r, 'GET', path);
    if (got.status === 200 && check(got.body)) return performance.now() - t0;
    await new Promise((res) => setTimeout(res, 2));
  }
  throw new Error(`${r.url}${path} never showed the change`);
}


describe.skipIf(postgresUrl() === '')('three replicas on one PostgreSQL database', () => {
  it('answer consistently under round-robin load, count exactly, hear each other, and lose no acknowledged write to a SIGKILL', { timeout: 120_000 }, async () => {
    const db = await testDatabase();
    const replicas = await Promise.all(['r0', 'r1', 'r2'].map((n) => startReplica(db, n)));
    const [r0, r1, r2] = replicas;

    // Created on one, seen by all.
    const config = { quantization_type: 'INT8', quantization_mode: 'DYNAMIC' };
    expect((await call(r0, 'POST', '/instances/shared', config)).status).toBe(200);
    for (const r of [r1, r2]) await until(r, '/instances', (ids: string[]) => ids.includes('shared'));

    // Round-robin quantize load: every answer exactly what the engine answers for this config.
    const N = 240;
    const rows = Array.from({ length: N }, (_, i) => [i / 10 - 3, 1.5, -2.25 + i / 100, 7]);
    const tasks = rows.map((row, i) => () => call(replicas[i % 3], 'POST', '/instances/shared/quantize', { data: row }));
    const answers = await pool(tasks, 12);
    answers.forEach((a, i) => {
      const ref = new Quantizer({ quantizationType: 'INT8', quantizationMode: 'DYNAMIC' }).quantize({ data: Float32Array.from(rows[i]), shape: [4] });
      expect(a.status, `answer ${i}`).toBe(200);
      expect(a.body.data, `answer ${i}`).toEqual(Array.from(ref.codes as Int8Array));
      expect(a.body.scale, `answer ${i}`).toBe(Math.fround(ref.params!.scale[0]));
    });
    // Counted exactly once each, in the store every replica reads.
    for (const r of replicas) {
      const s = (await call(r, 'GET', '/instances/shared/stats')).body;
      expect(s.quantize_calls).toBe(N);
      expect(s.total_values).toBe(4 * N);
      expect(s.persisted).toBe(true);
    }

    // A config change on one replica reaches the others (LISTEN/NOTIFY), with no request to them in between.
    const t0 = performance.now();
    expect((await call(r1, 'PUT', '/instances/shared/config', { quantization_type: 'UINT8', quantization_mode: 'DYNAMIC' })).status).toBe(200);
    const acked = performance.now() - t0;
    const seen = await Promise.all([r0, r2].map((r) => until(r, '/instances/shared/config', (c) => c.quantization_type === 'UINT8')));
    console.log(`config change: acknowledged in ${acked.toFixed(1)} ms; visible on the other replicas ${seen.map((ms) => (acked + ms).toFixed(1)).join(' and ')} ms after it was sent`);
    const after = await call(r2, 'POST', '/instances/shared/quantize', { data: [1, 2, 3] });
    expect(after.body.quantization_type).toBe('UINT8');

    // Writes round-robin while r2 is SIGKILLed mid-load: every acknowledged one is kept.
    const acknowledged = new Map<string, string>();
    let killed = false;
    const writes = Array.from({ length: 90 }, (_, i) => async () => {
      const r = replicas[i % 3];
      const id = `w${i}`;
      const type = ['INT8', 'UINT8', 'INT16'][i % 3];
      if (i === 30) {
        r2.child.kill('SIGKILL');
        killed = true;
      }
      try {
        const created = await call(r, 'POST', `/instances/${id}`, { quantization_type: type });
        if (created.status !== 200) return;
        const changed = await call(r, 'PUT', `/instances/${id}/config`, { quantization_type: type, num_bits: 8, symmetric: true });
        acknowledged.set(id, changed.status === 200 ? `${type}/sym` : `${type}/asym`);
      } catch {
        // The killed replica's connections fail: those writes were never acknowledged.
      }
    });
    await pool(writes, 9);
    expect(killed).toBe(true);
    await exited(r2.child);
    expect(acknowledged.size).toBeGreaterThanOrEqual(60);
    // A replica started afterwards reads them from the store, as do the survivors from their caches.
    const late = await startReplica(db, 'r3');
    for (const r of [r0, r1, late]) {
      const ids: string[] = (await call(r, 'GET', '/instances')).body;
      for (const [id, what] of acknowledged) {
        expect(ids, `${id} on ${r.url}`).toContain(id);
        const c = (await call(r, 'GET', `/instances/${id}/config`)).body;
        expect(`${c.quantization_type}/${c.symmetric ? 'sym' : 'asym'}`, `${id} on ${r.url}`).toBe(what);
      }
    }
    // Deleted on one, gone on all.
    expect((await call(late, 'DELETE', '/instances/w0')).status).toBe(200);
    for (const r of [r0, r1]) await until(r, '/instances', (ids: string[]) => !ids.includes('w0'));
    expect((await call(r0, 'GET', '/instances/w0/config')).status).toBe(404);

    // SIGTERM drains and releases the replica's connections; the others keep theirs.
    const admin = new pg.Client(db);
    await admin.connect();
    const held = async (name: string) =>
      Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [`quantkit ${name}`])).rows[0].n);
    expect(await held('r1')).toBeGreaterThan(0);
    r1.child.kill('SIGTERM');
    await exited(r1.child);
    expect(r1.child.exitCode).toBe(0);
    expect(await held('r1')).toBe(0);
    expect(await held('r0')).toBeGreaterThan(0);
    await admin.end();
  });

  it('refuses to start, in one line and exit 1, when the database cannot be reached', { timeout: 30_000 }, async () => {
    const url = new URL(await testDatabase());
    url.port = '1';
    const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--database-url', url.toString()]);
    children.push(child);
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await exited(child);
    expect(child.exitCode).toBe(1);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/cannot reach PostgreSQL at quantkit@127\.0\.0\.1:1\/\w+ \(ECONNREFUSED\)/);
  });
});
