// Vitest global setup: ONE throw-away PostgreSQL cluster for the whole run (initdb into a temp dir,
// postgres on a free port of 127.0.0.1), its URL provided to the tests as `postgresUrl`; each test
// file makes its own databases in it (test/setup/test-database.ts). Where the binaries are absent
// the URL is '' and the PostgreSQL tests skip, saying so (optional-tools.ts).
import type { TestProject } from 'vitest/node';
import { postgresAvailable, startThrowawayPostgres, type ThrowawayPostgres } from '../../src/node/store/throwaway-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

// Every project of the run loads this file in its own module graph; the cluster is the process's.
const shared = globalThis as { quantkitTestCluster?: { cluster: Promise<ThrowawayPostgres>; users: number } };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!postgresAvailable()) {
    project.provide('postgresUrl', '');
    return async () => {};
  }
  shared.quantkitTestCluster ??= { cluster: startThrowawayPostgres({ durable: false }), users: 0 };
  const entry = shared.quantkitTestCluster;
  entry.users++;
  project.provide('postgresUrl', (await entry.cluster).url);
  return async () => {
    if (--entry.users > 0) return;
    shared.quantkitTestCluster = undefined;
    await (await entry.cluster).stop();
  };
}
