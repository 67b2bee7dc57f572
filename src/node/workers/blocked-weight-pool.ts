import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { QuantError } from '../../core/errors.js';
import type { BlockedWeight } from '../../onnx/modes/weight-only/blocked-weight.js';
import type { BlockedWeightExecutor, BlockedWeightJob, JobError } from '../../onnx/modes/weight-only/blocked-weight-job.js';
import { errorOfJob } from '../../onnx/modes/weight-only/blocked-weight-job.js';

export interface BlockedWeightRequest {
  readonly id: number;
  readonly job: BlockedWeightJob;
}

export type BlockedWeightReply = { readonly id: number; readonly result: BlockedWeight } | { readonly id: number; readonly error: JobError };

/** The result's own buffers (never a view of a shared or pooled buffer): moved, not copied, back to the caller. */
export function transferablesOf(w: BlockedWeight): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const a of [w.codes, w.scale, w.zeroPoint, w.inputScale]) {
    if (a && a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) out.add(a.buffer);
  }
  return [...out];
}

/**
 * The worker's compiled script: beside this module in the build; from the sources (the test runner
 * imports .ts files, which a worker thread cannot load) the build's copy of it.
 */
const WORKER_URL = import.meta.url.endsWith('.ts') ? new URL('../../../dist/node/workers/blocked-weight-worker.js', import.meta.url) : new URL('./blocked-weight-worker.js', import.meta.url);

interface Pending {
  readonly job: BlockedWeightJob;
  readonly resolve: (w: BlockedWeight) => void;
  readonly reject: (e: Error) => void;
}

/**
 * `threads` worker threads that each run one quantizeBlockedWeight job at a time (GPTQ's factor and
 * updates of one layer): jobs queue in the order given and go to the first idle worker, so the
 * layers of one calibration pass run side by side. Each job's result is exactly what
 * runBlockedWeightJob gives on the calling thread (the same code on the same data). The job's
 * arrays are copied to the worker (the caller keeps using the weights); results are transferred back.
 *
 * Example: `const pool = BlockedWeightPool.create(2); await quantizeModel(m, o, { ...hooks, quantizeBlocked: pool.run }); await pool.close();`
 */
export class BlockedWeightPool {
  readonly threads: number;
  /** Jobs that ran in a worker so far. */
  completed = 0;
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Pending[] = [];
  private readonly running = new Map<number, { worker: Worker; pending: Pending }>();
  private nextId = 1;
  private closed = false;

  private constructor(threads: number) {
    this.threads = threads;
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_URL);
      worker.on('message', (reply: BlockedWeightReply) => this.settle(worker, reply));
      worker.on('error', (e) => this.fail(worker, e));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(worker, new Error(`a blocked-weight worker exited with code ${code}`));
      });
      // Idle workers must not keep the process alive: the pool is closed explicitly, but a caller that forgets should not hang.
      worker.unref();
      this.workers.push(worker);
      this.idle.push(worker);
    }
  }

  /** A pool of `threads` workers (default: the CPUs available), 1..64. */
  static create(threads = availableParallelism()): BlockedWeightPool {
    if (!Number.isSafeInteger(threads) || threads < 1 || threads > 64) throw new QuantError('INVALID_ARGUMENT', `threads must be a whole number in [1, 64], got ${threads}`);
    return new BlockedWeightPool(threads);
  }

  /** Runs one job in a worker (a BlockedWeightExecutor: pass it as QuantizeHooks.quantizeBlocked). */
  readonly run: BlockedWeightExecutor = (job) =>
    new Promise<BlockedWeight>((resolve, reject) => {
      if (this.closed) {
        reject(new QuantError('INVALID_ARGUMENT', 'this blocked-weight pool is closed'));
        return;
      }
      this.queue.push({ job, resolve, reject });
      this.pump();
    });

  /** Stops the workers; jobs still queued or running are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new QuantError('INVALID_ARGUMENT', 'the blocked-weight pool was closed before the job ran');
    for (const p of this.queue.splice(0)) p.reject(error);
    for (const { pending } of this.running.values()) pending.reject(error);
    this.running.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const worker = this.idle.pop()!;
      const pending = this.queue.shift()!;
      const id = this.nextId++;
      this.running.set(id, { worker, pending });
      worker.ref();
      const req: BlockedWeightRequest = { id, job: pending.job };
      worker.postMessage(req);
    }
  }

  private settle(worker: Worker, reply: BlockedWeightReply): void {
    const r = this.running.get(reply.id);
    if (!r) return;
    this.running.delete(reply.id);
    worker.unref();
    this.idle.push(worker);
    if ('error' in reply) r.pending.reject(errorOfJob(reply.error));
    else {
      this.completed++;
      r.pending.resolve(reply.result);
    }
    this.pump();
  }

  /** A worker died: its job fails, and so does every later one (the pool is not trusted to recover). */
  private fail(worker: Worker, e: Error): void {
    for (const [id, r] of this.running) {
      if (r.worker !== worker) continue;
      this.running.delete(id);
      r.pending.reject(e);
    }
    if (!this.closed) void this.close();
  }
}
