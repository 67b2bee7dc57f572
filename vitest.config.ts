import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Rebuilds a dist/ older than src/ before any test (the CLI, worker and service tests run it),
    // and says which groups skipped for an absent tool.
    globalSetup: ['test/setup/global-setup.ts'],
    // Two-core CI machine: property tests and CLI subprocess tests are CPU-bound.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
