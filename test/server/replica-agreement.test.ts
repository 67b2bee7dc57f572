import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { PostgresStore } from '../../src/node/store/postgres-store.js';
import { postgresUrl, schemaFor, testDatabase } from '../setup/test-database.js';
import { json } from './helpers.js';

// Two services (replicas) in this process on one PostgreSQL schema, one of them deaf to the
// other's notifications, so its copy is stale on purpose: a conditional write must refuse what it
// computed from that copy (409, or a retry for a whole replacement) rather than overwrite.

async function replica(dir: string, options: { deaf?: boolean; replicaId?: string; logStream?: { write(line: string): unknown }; apiKey?: string } = {}) {
  const store = await PostgresStore.open(await testDatabase(), { schema: schemaFor(dir), poolSize: 3 });
  if (options.deaf) (store as { watch?: unknown }).watch = undefined;
  const { deaf: _deaf, ...rest } = options;
  return buildApp({ store, ...(options.logStream ? { logLevel: 'info' } : { logger: false }), ...rest });
}

const batches = { data: [[[0.5, -1.25, 3]], [[2, -0.75, 1]]] };

describe.skipIf(postgresUrl() === '')('replicas that agree (PostgreSQL)', () => {
  it('a change computed from a stale copy is refused with 409 and nothing written; a whole replacement retries and wins', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quantkit-agree-'));
    const a = await replica(dir);
    const b = await replica(dir, { deaf: true });
    expect((await json(a, 'PUT', '/instances/default/config', { quantization_type: 'INT16', quantization_mode: 'CALIBRATED' })).statusCode).toBe(200);
    // b still holds version 1 (INT8): its calibration would write INT8 back over a's INT16.
    const lost = await json(b, 'POST', '/instances/default/calibrate', batches);
    expect(lost.statusCode).toBe(409);
    expect(lost.json().detail).toBe('Quantizer instance default was changed by another request while this one ran; nothing was written, retry it');
    expect((await json(a, 'GET', '/instances/default/calibration')).statusCode).toBe(404);
    expect((await json(a, 'GET', '/instances/default/config')).json().quantization_type).toBe('INT16');
    // The loser reloaded the record: the client's retry calibrates the INT16 instance.
    const retried = await json(b, 'POST', '/instances/default/calibrate', batches);
    expect(retried.statusCode).toBe(200);
    expect((await json(b, 'GET', '/instances/default/config')).json().quantization_type).toBe('INT16');
    // A PUT replaces the whole config: b, stale again, recomputes it on the current record and wins.
    expect((await json(a, 'PUT', '/instances/default/config', { quantization_type: 'UINT8' })).statusCode).toBe(200);
    expect((await json(b, 'PUT', '/instances/default/config', { quantization_type: 'INT8', num_bits: 6 })).statusCode).toBe(200);
    const fresh = await replica(dir);
    expect((await json(fresh, 'GET', '/instances/default/config')).json()).toMatchObject({ quantization_type: 'INT8', num_bits: 6 });
    await Promise.all([a.close(), b.close(), fresh.close()]);
  });

  it('/healthz while the process runs, /readyz while the store answers (no API key needed), and logs name the replica', { timeout: 30_000 }, async () => {
    const lines: string[] = [];
    const app = await replica(mkdtempSync(join(tmpdir(), 'quantkit-ready-')), { replicaId: 'replica-7', logStream: { write: (l) => lines.push(l) }, apiKey: 'k' });
    expect((await json(app, 'GET', '/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await json(app, 'GET', '/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json().detail).toMatch(/^PostgreSQL store quantkit@127\.0\.0\.1:\d+\/\w+ at schema version 1$/);
    expect((await json(app, 'GET', '/instances')).statusCode).toBe(401);
    const logged = lines.map((l) => JSON.parse(l) as { replica?: string; msg?: string });
    expect(logged.length).toBeGreaterThan(0);
    for (const l of logged) expect(l.replica).toBe('replica-7');
    // The store gone (as when the database is unreachable): not ready, the process still live.
    await (app.registry as unknown as { store: PostgresStore }).store.close();
    const down = await json(app, 'GET', '/readyz');
    expect(down.statusCode).toBe(503);
    expect(down.json()).toEqual({ status: 'unavailable', detail: 'the PostgreSQL store is closed' });
    expect((await json(app, 'GET', '/healthz')).statusCode).toBe(200);
    await app.close();
  });
});
