import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { QuantErrorCode } from '../../core/errors.js';
import { QuantError } from '../../core/errors.js';
import type { QuantizerConfig } from '../../engine/config.js';
import type { QuantizerParametersFile } from '../../engine/parameter-export.js';
import { decodeQuantizerParameters, encodeQuantizerParameters } from '../../engine/parameter-export.js';
import type { ParameterState } from '../../engine/parameter-views.js';
import type { CalibrateOptions, Quantizer } from '../../engine/quantizer.js';
import type { QuantizerStats } from '../../engine/quantizer-stats.js';
import type {
  InstanceSync,
  OffloadComputeParams,
  OffloadControl,
  OffloadDequantize,
  OffloadError,
  OffloadOp,
  OffloadQuantize,
  OffloadReply,
  OffloadRequest,
  OffloadValues,
} from './offload-protocol.js';
import { inputField } from './offload-protocol.js';
import type { UploadWork } from './offload-upload.js';
import { parameterChanges, parametersWith } from './parameter-changes.js';

const WORKER_URL = new URL('./offload-worker.js', import.meta.url);

/** An instance as the Offloader sees it: its quantizer and a key no other instance object ever has. */
export interface OffloadTarget {
  readonly key: number;
  readonly quantizer: Quantizer;
}

/** An offloaded call's outcome, for the instance to take on inside its queue. */
export interface Offloaded<T> {
  value: T;
  /** The parameter entries the call changed (a partial export for Quantizer.mergeParameters), or null. */
  changes: unknown;
  /** The call's own statistics (its processing time too). */
  stats: QuantizerStats;
  /** The instance's whole parameters once it has taken the call on: what to write before commit. */
  parametersAfter(): QuantizerParametersFile;
  /**
   * Takes the call on: its changes and statistics, exactly as running it here would have left the
   * instance. Not calling it (a write that failed) leaves the instance as it was; the worker's copy
   * is then ahead, and the next request sends the whole state.
   */
  commit(): void;
}

/** What the worker's copy of an instance holds, as the main thread knows it. */
interface Held {
  token: number;
  revision: number;
  config: QuantizerConfig;
  state: ParameterState;
}

type Pending = { resolve: (r: OffloadReply) => void; reject: (e: Error) => void };

/** Distributes Omit over the request union, so each op keeps its own fields. */
type Unsent<R> = R extends OffloadRequest ? Omit<R, 'id' | 'instance'> : never;

/**
 * Runs the array work of large requests in a worker thread, so the event loop keeps answering
 * (GET /, other instances) meanwhile: calibrate, quantize, quantize_dequantize, dequantize,
 * compute_params and an upload's whole work. One worker: on a 2-core machine the other core stays
 * with the event loop.
 *
 * The worker keeps a copy of every instance it ran for. A request sends only what the instance
 * changed since the state that copy holds: nothing when it is unchanged (its Quantizer.revision),
 * the changed layers' entries after an inline quantize or a calibration, the whole config and
 * parameters after a config change or an import, for an instance the worker never saw, or when the
 * worker lost its copy (a restart: its reply says `stale` and hands the input back). The answer
 * carries only what the call changed (the layers' new entries and the call's statistics), which
 * the caller writes if it must and then commits to the live instance while the instance's queue
 * still holds it: nothing else on that instance runs in between, so it ends exactly as if the call
 * had run inline.
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
  /** Per instance key, what the worker's copy holds; absent: it holds none we could build on. */
  private readonly held = new Map<number, Held>();
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
      p.resolve(r);
    });
    const fail = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      // Its copies went with it.
      this.held.clear();
      if (this.worker === w) this.worker = undefined;
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the offload worker exited (code ${code})`)));
    // Idle, it must not keep the process alive.
    w.unref();
    this.worker = w;
    return w;
  }

  private post(msg: OffloadRequest | OffloadControl & { id: number }, transfer: ArrayBuffer[]): Promise<OffloadReply> {
    const w = this.ensureWorker();
    return new Promise<OffloadReply>((resolve, reject) => {
      this.pending.set(msg.id, { resolve, reject });
      w.ref();
      w.postMessage(msg, transfer);
    }).finally(() => {
      if (this.pending.size === 0) this.worker?.unref();
    });
  }

  /** What to send for t: nothing, its changes since the worker's copy, or (`whole`, or no usable copy) its whole state. */
  private syncOf(t: OffloadTarget, whole: boolean): { sync: InstanceSync; sent: Omit<Held, 'token'> } {
    const q = t.quantizer;
    const h = whole ? undefined : this.held.get(t.key);
    const config = q.getConfig();
    if (h !== undefined && h.revision === q.revision) return { sync: { key: t.key, base: h.token, state: null }, sent: h };
    const state = q.parameterState();
    const sent = { revision: q.revision, config, state };
    if (h !== undefined && h.config === config) {
      const changes = parameterChanges(h.state, state);
      if (changes !== 'removed') return { sync: { key: t.key, base: h.token, state: changes === null ? null : { kind: 'changes', parameters: changes } }, sent };
    }
    return { sync: { key: t.key, base: null, state: { kind: 'whole', config, parameters: encodeQuantizerParameters(state.calibrated, state.last) } }, sent };
  }

  private async run<Op extends OffloadOp>(t: OffloadTarget, body: Unsent<OffloadRequest> & { op: Op }): Promise<Offloaded<OffloadValues[Op]>> {
    const field = inputField(body.op);
    let input = ownedView((body as unknown as Record<string, ArrayBufferView & { slice(): ArrayBufferView }>)[field]);
    for (let attempt = 0; ; attempt++) {
      const { sync, sent } = this.syncOf(t, attempt > 0);
      const id = this.nextId++;
      const reply = await this.post({ ...body, [field]: input, id, instance: sync } as OffloadRequest, [input.buffer as ArrayBuffer]);
      if ('stale' in reply) {
        // The worker has no copy at that token (it restarted, or let the copy go): once more, whole.
        this.held.delete(t.key);
        if (attempt > 0) throw new Error('the offload worker refused a whole instance state');
        input = reply.input as typeof input;
        continue;
      }
      if (!reply.ok) {
        if (reply.held !== null) this.held.set(t.key, { ...sent, token: reply.held });
        else this.held.delete(t.key);
        throw errorOf(reply.error);
      }
      if (!('value' in reply)) throw new Error('the offload worker answered a run with something else');
      // Until the instance commits, the worker's copy is ahead of it.
      this.held.delete(t.key);
      const { value, changes, stats, held } = reply;
      return {
        value: value as OffloadValues[Op],
        changes,
        stats,
        parametersAfter: () => {
          const now = t.quantizer.parameterState();
          return changes === null ? encodeQuantizerParameters(now.calibrated, now.last) : parametersWith(now, decodeQuantizerParameters(changes));
        },
        commit: () => {
          const q = t.quantizer;
          if (changes !== null) q.mergeParameters(changes);
          q.applyCopyEffects({ stats });
          this.held.set(t.key, { token: held, revision: q.revision, config: q.getConfig(), state: changes === null ? sent.state : q.parameterState() });
        },
      };
    }
  }

  /** Calibrates the instance's copy over `batches` equal batches of x: the report, and the calibrated entry it changed. */
  calibrate(t: OffloadTarget, x: Float32Array, batchShape: number[], batches: number, options: CalibrateOptions): Promise<Offloaded<OffloadValues['calibrate']>> {
    return this.run(t, { op: 'calibrate', x, batchShape, batches, options });
  }

  /** quantize (or quantizeDequantize) of x on the instance's copy. */
  quantize<Op extends OffloadQuantize['op']>(op: Op, t: OffloadTarget, x: Float32Array, shape: number[], options: OffloadQuantize['options']): Promise<Offloaded<OffloadValues[Op]>> {
    return this.run(t, { op, x, shape, options } as Unsent<OffloadQuantize> & { op: Op });
  }

  /** dequantize of integer codes (as float32 values) on the instance's copy. */
  dequantize(t: OffloadTarget, codes: Float32Array | Float64Array, shape: number[], options: OffloadDequantize['options']): Promise<Offloaded<OffloadValues['dequantize']>> {
    return this.run(t, { op: 'dequantize', codes, shape, options });
  }

  /**
   * An upload_numpy's array work on the instance's copy (runUpload): the answer's figures or .npy.
   * The .npy's data goes over as decoded, its buffer transferred.
   */
  upload(t: OffloadTarget, work: UploadWork): Promise<Offloaded<OffloadValues['upload']>> {
    return this.run(t, { ...work, op: 'upload' });
  }

  /** computeScaleAndZeroPoint on the instance's copy (it changes no state). */
  computeParams(t: OffloadTarget, x: Float32Array, shape: number[], channelIdx: number | null, options: OffloadComputeParams['options']): Promise<Offloaded<OffloadValues['compute_params']>> {
    return this.run(t, { op: 'compute_params', x, shape, channelIdx, options });
  }

  /** Lets the worker's copy of an instance go (the instance was deleted). */
  forget(key: number): void {
    this.held.delete(key);
    this.worker?.postMessage({ op: 'drop', key } satisfies OffloadControl);
  }

  /** The instance keys the worker keeps a copy for, least recently used first (none without a worker). */
  async heldKeys(): Promise<number[]> {
    if (this.worker === undefined) return [];
    const reply = await this.post({ op: 'held', id: this.nextId++ }, []);
    return 'keys' in reply ? reply.keys : [];
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    this.held.clear();
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
