import type { ChunkRunner } from '../node/chunk-runner.js';
import { createLocalRunner } from '../node/chunk-runner.js';
import { KernelPool } from '../node/worker-pool.js';

/**
 * Worker threads only when asked for (--workers N). Measured here on a 64 MiB .npy: streamed
 * quantize took 0.47 s on one thread and 0.87 s with 2 workers (per-block int4: 0.80 s vs 0.88 s).
 * The WASM kernels outrun reading the file, so the pool's messages and copies cost more than the
 * split saves; it pays on in-memory arrays (bench/cli.bench.mjs measures both).
 */
export function chooseRunner(workers: number | undefined): ChunkRunner {
  return workers !== undefined && workers > 1 ? KernelPool.create(workers) : createLocalRunner();
}
