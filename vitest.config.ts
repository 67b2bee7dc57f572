import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Rebuilds a dist/ older than src/ before any test (the CLI, worker and service tests run it),
    // and says which groups skipped for an absent tool.
    globalSetup: ['test/setup/global-setup.ts'],
    // One fast-check seed for every property test that does not choose its own.
    setupFiles: ['test/setup/fast-check-seed.ts'],
    // Two-core CI machine: property tests and CLI subprocess tests are CPU-bound. Timeouts are
    // vitest's defaults; a test that needs more says so beside it.
    pool: 'forks',
    maxWorkers: 2,
  },
});
