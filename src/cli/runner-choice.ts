import { availableParallelism } from 'node:os';
import type { ChunkRunner } from '../node/chunk-runner.js';
import { createLocalRunner } from '../node/chunk-runner.js';
import { KernelPool } from '../node/worker-pool.js';

/** From about here, splitting work across worker threads pays for starting them (measured on 16M elements). */
export const AUTO_WORKERS_MIN_ELEMENTS = 1 << 22;
const AUTO_WORKERS_MAX = 4;

/** Worker threads for an array of `elements`: as asked, or automatically the cores for large arrays. */
export function chooseRunner(elements: number, workers?: number): ChunkRunner {
  const n = workers ?? (elements >= AUTO_WORKERS_MIN_ELEMENTS ? Math.min(availableParallelism(), AUTO_WORKERS_MAX) : 1);
  return n > 1 ? KernelPool.create(n) : createLocalRunner();
}
