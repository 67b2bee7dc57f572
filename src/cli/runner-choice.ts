import type { ChunkRunner } from '../node/workers/chunk-runner.js';
import { createLocalRunner } from '../node/workers/chunk-runner.js';
import { KernelPool } from '../node/workers/worker-pool.js';

/**
 * Worker threads only when asked for (--workers N). A streamed file is read twice from the page
 * cache (20-40 ms per 128 MiB pass) while the kernels take 3-5 ms per pass, so a second thread
 * has little to split: bench/cli.bench.mjs measured --workers 2 at 0.86-0.88x of one thread on a
 * 128 MiB .npy. The pool pays on arrays already in memory (bench/workers.bench.mjs).
 */
export function chooseRunner(workers: number | undefined): ChunkRunner {
  return workers !== undefined && workers > 1 ? KernelPool.create(workers) : createLocalRunner();
}
