import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { PostgresStore } from '../../src/node/store/postgres-store.js';
import { postgresAvailable, startThrowawayPostgres } from '../../src/node/store/throwaway-postgres.js';
import { isStoreUnavailable } from '../../src/node/store/store-unavailable.js';
import { json } from './helpers.js';

// A database that goes away under a running replica is the operator's outage, not the client's
// mistake and not a bug: requests that need it answer 503 (retry), the process keeps serving.
// The cluster is this file's own, since the test stops it.

describe.skipIf(!postgresAvailable())('the store database down under a running service', () => {
  it('answers 503 with a JSON detail and Retry-After, says nothing of the database address, and stays live', { timeout: 60_000 }, async () => {
    const cluster = await startThrowawayPostgres();
    let stopped = false;
    try {
      const store = await PostgresStore.open(cluster.url, { schema: 'outage', poolSize: 2 });
      const app = await buildApp({ store, logger: false });
      expect((await json(app, 'PUT', '/instances/default/config', { quantization_type: 'INT16' })).statusCode).toBe(200);
      await cluster.stop();
      stopped = true;
      const put = await json(app, 'PUT', '/instances/default/config', { quantization_type: 'UINT8' });
      expect(put.statusCode).toBe(503);
      expect(put.headers['retry-after']).toBe('1');
      expect(put.json()).toEqual({ detail: "the instance store's database cannot be reached; nothing was changed, retry shortly", code: 'STORE_UNAVAILABLE' });
      expect(put.body).not.toContain(String(cluster.port));
      const created = await json(app, 'POST', '/instances/during-outage', {});
      expect(created.statusCode).toBe(503);
      // The instance it holds is unchanged, and the process answers its liveness probe.
      expect((await json(app, 'GET', '/instances/default/config')).json().quantization_type).toBe('INT16');
      expect((await json(app, 'GET', '/healthz')).statusCode).toBe(200);
      expect((await json(app, 'GET', '/readyz')).statusCode).toBe(503);
      await app.close().catch(() => {});
    } finally {
      if (!stopped) await cluster.stop();
    }
  });
});

describe('isStoreUnavailable', () => {
  const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  it('recognises refused and dropped connections and a server shutting down, and nothing else', () => {
    expect(isStoreUnavailable(withCode('ECONNREFUSED'))).toBe(true);
    expect(isStoreUnavailable(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]))).toBe(true);
    expect(isStoreUnavailable(withCode('57P01'))).toBe(true);
    expect(isStoreUnavailable(withCode('08006'))).toBe(true);
    expect(isStoreUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    // A query the database refused for its content, a constraint, a full disk: not an outage.
    expect(isStoreUnavailable(withCode('42P01'))).toBe(false);
    expect(isStoreUnavailable(withCode('23505'))).toBe(false);
    expect(isStoreUnavailable(withCode('SQLITE_FULL'))).toBe(false);
    expect(isStoreUnavailable(new AggregateError([withCode('ECONNREFUSED'), withCode('42P01')]))).toBe(false);
    expect(isStoreUnavailable('ECONNREFUSED')).toBe(false);
  });
});
