// The offload worker runs compiled JavaScript, so tests of offloading drive the built service in
// dist/ (the tests' global setup builds it when stale); these helpers build such apps (on the store
// this run tests) and watch what they offload.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { schemaFor, testDatabase, TEST_STORE } from '../setup/test-database.js';
import type { FastifyInstance } from 'fastify';

const DIST = join(import.meta.dirname, '../../dist');

const dirs: string[] = [];
const apps: FastifyInstance[] = [];

/** The built app on a fresh SQLite store; arrays of offloadThreshold elements or more go to the worker. */
export async function builtApp(offloadThreshold: number): Promise<FastifyInstance> {
  const { buildApp } = await importBuilt<typeof import('../../src/server/app.js')>('server/app.js');
  const { SqliteStore } = await importBuilt<typeof import('../../src/node/store/sqlite-store.js')>('node/store/sqlite-store.js');
  const { PostgresStore } = await importBuilt<typeof import('../../src/node/store/postgres-store.js')>('node/store/postgres-store.js');
  const dir = mkdtempSync(join(tmpdir(), 'quantkit-offload-'));
  dirs.push(dir);
  const store = TEST_STORE === 'sqlite' ? new SqliteStore(dir) : await PostgresStore.open(await testDatabase(), { schema: schemaFor(dir), poolSize: 4 });
  const app = await buildApp({ store, logger: false, offloadThreshold });
  apps.push(app);
  return app;
}

/** Closes every app builtApp made and removes their stores (for afterAll). */
export async function closeBuiltApps(): Promise<void> {
  for (const a of apps.splice(0)) await a.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export type Offloaded = 'calibrate' | 'quantize' | 'dequantize' | 'computeParams' | 'upload';

/** Counts the Offloader's calls (so a test knows the worker did the work) and resolves `started` on each. */
export function watchOffloads(app: FastifyInstance): { counts: Record<Offloaded, number>; started: () => Promise<void> } {
  const counts: Record<Offloaded, number> = { calibrate: 0, quantize: 0, dequantize: 0, computeParams: 0, upload: 0 };
  let waiting: (() => void) | undefined;
  const o = app.offloader as unknown as Record<Offloaded, (...a: unknown[]) => unknown>;
  for (const m of Object.keys(counts) as Offloaded[]) {
    const orig = o[m].bind(app.offloader);
    o[m] = (...a: unknown[]) => {
      counts[m]++;
      const r = orig(...a);
      waiting?.();
      return r;
    };
  }
  return { counts, started: () => new Promise<void>((resolve) => (waiting = resolve)) };
}

/** A module of the built tree by its path under dist/ (the same instance the built app uses). */
export async function importBuilt<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(DIST, path)).href)) as T;
}
