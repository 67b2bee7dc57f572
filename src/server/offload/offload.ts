import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { QuantErrorCode } from '../../core/errors.js';
import { QuantError } from '../../core/errors.js';
import type { CalibrateOptions, CalibrationReport } from '../../engine/quantizer.js';
import type {
  InstanceSnapshot,
  OffloadComputeParams,
  OffloadDequantize,
  OffloadError,
  OffloadOp,
  OffloadQuantize,
  OffloadReply,
  OffloadRequest,
  OffloadResults,
} from './offload-protocol.js';
import type { UploadWork } from './offload-upload.js';

const WORKER_URL = new URL('./offload-worker.js', import.meta.url);

type Pending = { resolve: (v: OffloadResults[OffloadOp]) => void; reject: (e: Error) => void };

/** Distributes Omit over the request union, so each op keeps its own fields. */
type Unsent<R> = R extends OffloadRequest ? Omit<R, 'id' | keyof InstanceSnapshot> : never;

/**
 * Runs the array work of large requests in a worker thread, so the event loop keeps answering
 * (GET /, other instances) meanwhile: calibrate, quantize, quantize_dequantize, dequantize and
 * compute_params. The worker rebuilds the instance from a snapshot (config + exported parameters,
 * fresh statistics) and answers with the result and what the call changed (the copy's
 * parameters and statistics), which the caller applies to the
 * live instance (Quantizer.applyCopyEffects) while the instance's queue still holds it: nothing else
 * on that instance runs in between, so the instance ends exactly as if the call had run inline.
 * One worker: on a 2-core machine the other core stays with the event loop.
 *
 * Arrays go both ways by transfer, never JSON or a copy: the input's buffer is handed to the worker
 * (the caller's views of it are detached afterwards) and the result arrays come back the same way.
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
      if (r.ok) p.resolve(r.value);
      else p.reject(errorOf(r.error));
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

  private run<Op extends OffloadOp>(snapshot: InstanceSnapshot, body: Unsent<OffloadRequest> & { op: Op }): Promise<OffloadResults[Op]> {
    const w = this.ensureWorker();
    const field = body.op === 'dequantize' ? 'codes' : body.op === 'upload' ? 'data' : 'x';
    const own = ownedView((body as unknown as Record<typeof field, ArrayBufferView & { slice(): ArrayBufferView }>)[field]);
    const id = this.nextId++;
    const msg = { ...body, [field]: own, id, config: snapshot.config, parameters: snapshot.parameters } as OffloadRequest;
    return new Promise<OffloadResults[OffloadOp]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage(msg, [own.buffer as ArrayBuffer]);
    }).finally(() => {
      if (this.pending.size === 0) this.worker?.unref();
    }) as Promise<OffloadResults[Op]>;
  }

  /** Calibrates a snapshot of a quantizer over `batches` equal batches of x; resolves with the report and the resulting parameters. */
  calibrate(config: unknown, parameters: unknown, x: Float32Array, batchShape: number[], batches: number, options: CalibrateOptions): Promise<OffloadResults['calibrate']> {
    return this.run({ config, parameters }, { op: 'calibrate', x, batchShape, batches, options });
  }

  /** quantize (or quantizeDequantize) of x on a snapshot: the result and the effects to apply to the instance. */
  quantize<Op extends OffloadQuantize['op']>(op: Op, snapshot: InstanceSnapshot, x: Float32Array, shape: number[], options: OffloadQuantize['options']): Promise<OffloadResults[Op]> {
    return this.run(snapshot, { op, x, shape, options });
  }

  /** dequantize of integer codes (as float32 values) on a snapshot: the result and the effects to apply. */
  dequantize(snapshot: InstanceSnapshot, codes: Float32Array | Float64Array, shape: number[], options: OffloadDequantize['options']): Promise<OffloadResults['dequantize']> {
    return this.run(snapshot, { op: 'dequantize', codes, shape, options });
  }

  /**
   * An upload_numpy's array work on a snapshot (runUpload): the answer's figures or .npy, and the
   * effects to apply. The .npy's data goes over as decoded, its buffer transferred.
   */
  upload(snapshot: InstanceSnapshot, work: UploadWork): Promise<OffloadResults['upload']> {
    return this.run(snapshot, { ...work, op: 'upload' });
  }

  /** computeScaleAndZeroPoint on a snapshot (it changes no state). */
  computeParams(snapshot: InstanceSnapshot, x: Float32Array, shape: number[], channelIdx: number | null, options: OffloadComputeParams['options']): Promise<OffloadResults['compute_params']> {
    return this.run(snapshot, { op: 'compute_params', x, shape, channelIdx, options });
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}

/**
 * A view whose buffer may be transferred: the array itself when its buffer is an ordinary
 * ArrayBuffer that holds nothing else in use (the routes hand over arrays parsed for their request
 * alone: the JSON parser's own array, or a view into the request's copy of its .npy body), else a
 * copy. Views under half of Node's Buffer.poolSize may be slices of the shared allocation pool,
 * which must not be detached; copying those costs nothing worth saving.
 */
function ownedView<A extends ArrayBufferView & { slice(): ArrayBufferView }>(x: A): A {
  const pooled = x.byteLength < Buffer.poolSize >>> 1 && x.byteLength !== x.buffer.byteLength;
  return x.buffer instanceof ArrayBuffer && !pooled ? x : (x.slice() as A);
}

/** The worker's error as the same error class, code, message and details, so the routes answer as inline. */
function errorOf(e: OffloadError): Error {
  return e.code ? new QuantError(e.code as QuantErrorCode, e.message, e.details === undefined ? {} : { details: e.details }) : new Error(e.message);
}
