import { defineConfig } from 'vitest/config';

/**
 * The service's API suites that take their store from test/server/helpers.ts: run once more with
 * the PostgreSQL store (project "postgres"), the same files, not copies. The others are about one
 * store's files (SQLite pages, kill -9 of the file's owner) or not about a store.
 */
const API_SUITES = [
  'answer-slices',
  'bad-input',
  'binary',
  'calibration',
  'config-contract',
  'http-bodies.fuzz',
  'json-stream',
  'npy-bodies',
  'npy-in-turns',
  'observer-config',
  'offload',
  'outlier-threshold',
  'prototype-keys',
  'routes',
  'security',
  'upload-offload',
].map((name) => `test/server/${name}.test.ts`);

/** What both projects share (a project that `extends: true` would add its include to the inherited one). */
const shared = {
  // One fast-check seed for every property test that does not choose its own.
  setupFiles: ['test/setup/fast-check-seed.ts'],
  // Two-core CI machine: property tests and CLI subprocess tests are CPU-bound. Timeouts are
  // vitest's defaults; a test that needs more says so beside it.
  pool: 'forks' as const,
  maxWorkers: 2,
};

export default defineConfig({
  test: {
    ...shared,
    // Rebuilds a dist/ older than src/ before any test (the CLI, worker and service tests run it),
    // and says which groups skipped for an absent tool; then starts one throw-away PostgreSQL
    // cluster for the run (each test file makes its own database in it).
    globalSetup: ['test/setup/global-setup.ts', 'test/setup/postgres-cluster.ts'],
    projects: [
      { test: { ...shared, name: 'sqlite', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] } },
      {
        test: {
          ...shared,
          name: 'postgres',
          include: API_SUITES,
          env: { QUANTKIT_TEST_STORE: 'postgres' },
          // Each service these suites build opens a pool and migrates a schema of its own, and the
          // database shares the two cores with the run: a test that restarts its service twice takes
          // more than vitest's default 5 s on a busy machine, for no fault of its own.
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});
