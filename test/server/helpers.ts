import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, type BuildAppOptions } from '../../src/server/app.js';
import { SqliteStore } from '../../src/node/store/sqlite-store.js';
import { PostgresStore } from '../../src/node/store/postgres-store.js';
import type { Store } from '../../src/node/store/store.js';
import { schemaFor, testDatabase, TEST_STORE } from '../setup/test-database.js';

export { TEST_STORE };

/**
 * The store of the service whose data dir is `dir`, of the kind this run tests (TEST_STORE): an
 * SQLite file in dir, or a schema named for dir in this file's PostgreSQL database. Opening the
 * same dir again finds the same records either way, so restart tests run on both.
 */
export async function testStore(dir: string): Promise<Store> {
  if (TEST_STORE === 'sqlite') return new SqliteStore(dir);
  return PostgresStore.open(await testDatabase(), { schema: schemaFor(dir), poolSize: 4 });
}

export interface TestApp {
  app: FastifyInstance;
  dir: string;
  close(): Promise<void>;
}

/** An app on a fresh temporary data dir (or PostgreSQL schema: TEST_STORE), logging nothing. */
export async function testApp(options: Partial<BuildAppOptions> = {}, dir = mkdtempSync(join(tmpdir(), 'quantkit-server-'))): Promise<TestApp> {
  const app = await buildApp({ store: await testStore(dir), logger: false, ...options });
  return {
    app,
    dir,
    async close() {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function json(app: FastifyInstance, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return app.inject({
    method,
    url,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A multipart/form-data body (headers and payload for app.inject) with `bytes` as the file field "file". */
export function multipart(filename: string, bytes: Uint8Array) {
  const b = 'quantkitBoundary';
  return {
    headers: { 'content-type': `multipart/form-data; boundary=${b}` },
    payload: Buffer.concat([
      Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      bytes,
      Buffer.from(`\r\n--${b}--\r\n`),
    ]),
  };
}
