import type { ChunkRunner } from '../node/workers/chunk-runner.js';
import { createLocalRunner } from '../node/workers/chunk-runner.js';

/**
 * Worker threads only when asked for (--workers N). A streamed file is read twice from the page
 * cache (20-40 ms per 128 MiB pass) while the kernels take 3-5 ms per pass, so a second thread
 * has little to split: bench/cli.bench.mjs measured --workers 2 at 0.86-0.88x of one thread on a
 * 128 MiB .npy. The pool pays on arrays already in memory (bench/workers.bench.mjs). Its module
 * (and node:worker_threads) loads only then: a single-threaded run has no use for them.
 */
export async function chooseRunner(workers: number | undefined): Promise<ChunkRunner> {
  if (workers === undefined || workers <= 1) return createLocalRunner();
  const { KernelPool } = await import('../node/workers/worker-pool.js');
  return KernelPool.create(workers);
}
