import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { QuantErrorCode } from '../core/errors.js';
import { QuantError } from '../core/errors.js';
import type { CalibrateOptions, CalibrationReport } from '../engine/quantizer.js';
import type { OffloadCalibrate, OffloadReply } from './offload-protocol.js';

const WORKER_URL = new URL('./offload-worker.js', import.meta.url);

type Pending = { resolve: (r: { report: CalibrationReport; parameters: unknown }) => void; reject: (e: Error) => void };

/**
 * Runs calibrations of large arrays in a worker thread, so the event loop keeps answering (GET /,
 * other instances) meanwhile. The worker calibrates a snapshot (config + exported parameters)
 * and hands back the resulting parameters, which the caller imports into the live instance
 * inside the instance's queue: nothing else on that instance runs in between, so every operation
 * sees either the parameters before or after, never a mix. One worker: on a 2-core machine the
 * other core stays with the event loop.
 *
 * From TypeScript sources (tests under vitest) the compiled worker does not exist; the Offloader
 * then reports itself unavailable and the caller runs the work inline.
 */
export class Offloader {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  readonly available: boolean;

  constructor(readonly threshold: number) {
    this.available = existsSync(fileURLToPath(WORKER_URL));
  }

  /** Whether work is running in the worker now. */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  /** Whether work over this many elements should go to the worker. */
  shouldOffload(elements: number): boolean {
    return this.available && !this.closed && elements >= this.threshold;
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_URL);
    w.on('message', (r: OffloadReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve({ report: r.report, parameters: r.parameters });
      else p.reject(r.error.code ? new QuantError(r.error.code as QuantErrorCode, r.error.message) : new Error(r.error.message));
    });
    const fail = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.worker = undefined;
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the offload worker exited (code ${code})`)));
    // Idle, it must not keep the process alive.
    w.unref();
    this.worker = w;
    return w;
  }

  /** Calibrates a snapshot of a quantizer over `batches` equal batches of x; resolves with the report and the resulting parameters. */
  calibrate(config: unknown, parameters: unknown, x: Float32Array, batchShape: number[], batches: number, options: CalibrateOptions): Promise<{ report: CalibrationReport; parameters: unknown }> {
    const w = this.ensureWorker();
    // Transfer rather than copy; a view into a shared buffer (a pooled Buffer) is copied first,
    // since transferring would detach its neighbours.
    const own = x.byteOffset === 0 && x.byteLength === x.buffer.byteLength && x.buffer instanceof ArrayBuffer ? x : x.slice();
    const id = this.nextId++;
    const msg: OffloadCalibrate = { id, op: 'calibrate', config, parameters, x: own, batchShape, batches, options };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage(msg, [own.buffer as ArrayBuffer]);
    }).finally(() => {
      if (this.pending.size === 0) this.worker?.unref();
    }) as Promise<{ report: CalibrationReport; parameters: unknown }>;
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
