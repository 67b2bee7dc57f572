import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { CodeArray, CodeStorage } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import { getKernels } from '../core/kernels/index.js';
import type { Kernels } from '../core/kernels/contract.js';
import type { BlockLayout } from '../core/layout.js';
import type { ChunkRunner } from './chunk-runner.js';
import { CODE_CTORS } from './chunk-runner.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

/** Below this many elements a chunk runs on the calling thread: posting messages would cost more than it saves. */
export const MIN_PARALLEL_ELEMENTS = 1 << 16;
/** Slice boundaries fall on multiples of this, so SIMD loops and sub-byte packing see whole groups. */
const SLICE_ALIGN = 64;

type Pending = { resolve: () => void; reject: (e: Error) => void; left: number; error?: string };

/**
 * The kernels run in `threads` worker threads over SharedArrayBuffer-backed chunks: each worker
 * takes a contiguous slice of the chunk (its `start` offset tells the kernel which parameters
 * apply), so results are bit-identical to one thread. min/max are folded per worker over the
 * window of parameters the chunk can touch, then merged here (min and max are order-independent,
 * NaN propagates through Math.min/Math.max as through the kernels).
 */
export class KernelPool implements ChunkRunner {
  readonly threads: number;
  private readonly workers: Worker[];
  private readonly local: Kernels;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly sharedCopies = new WeakMap<object, Float32Array | Int32Array>();
  private partials: { min: Float32Array; max: Float32Array }[] = [];
  private closed = false;

  private constructor(threads: number) {
    this.threads = threads;
    this.local = getKernels();
    this.workers = Array.from({ length: threads }, () => {
      const w = new Worker(new URL('./kernel-worker.js', import.meta.url));
      w.on('message', (r: WorkerReply) => this.settle(r));
      w.on('error', (e) => this.failAll(e));
      return w;
    });
  }

  /** A pool of `threads` workers (default: the machine's parallelism, at least 2). */
  static create(threads = Math.max(2, availableParallelism())): KernelPool {
    if (!Number.isSafeInteger(threads) || threads < 1) {
      throw new QuantError('INVALID_ARGUMENT', `a worker pool needs a positive whole number of threads, got ${threads}`);
    }
    return new KernelPool(threads);
  }

  allocFloat32(n: number): Float32Array {
    return new Float32Array(new SharedArrayBuffer(n * 4));
  }

  allocCodes(storage: CodeStorage, n: number): CodeArray {
    const C = CODE_CTORS[storage] as new (b: SharedArrayBuffer) => CodeArray;
    return new C(new SharedArrayBuffer(n * CODE_CTORS[storage].BYTES_PER_ELEMENT));
  }

  async minMax(x: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array, start: number, finiteOnly: boolean): Promise<void> {
    if (!this.parallel(x)) {
      this.local.minMax(x, layout, min, max, start, finiteOnly);
      return;
    }
    const slices = this.slices(x.length);
    const parts = this.partialArrays(slices.length, layout.paramCount);
    const windows = slices.map(([from, to]) => paramWindow(layout, start + from, start + to));
    await this.dispatch(
      slices.map(([from, to], k) => ({ op: 'minMax', id: 0, layout, from, to, start, x, min: parts[k].min, max: parts[k].max, lo: windows[k][0], hi: windows[k][1], finiteOnly })),
    );
    for (let k = 0; k < slices.length; k++) {
      const [lo, hi] = windows[k];
      const pmin = parts[k].min;
      const pmax = parts[k].max;
      for (let p = lo; p < hi; p++) {
        min[p] = Math.min(min[p], pmin[p]);
        max[p] = Math.max(max[p], pmax[p]);
      }
    }
  }

  async quantize(x: Float32Array, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number, out: CodeArray, start: number): Promise<void> {
    if (!this.parallel(x, out)) {
      this.local.quantize(x, layout, scale, zeroPoint, qmin, qmax, out, start);
      return;
    }
    const s = this.share(scale);
    const z = this.share(zeroPoint);
    await this.dispatch(this.slices(x.length).map(([from, to]) => ({ op: 'quantize', id: 0, layout, from, to, start, x, scale: s, zeroPoint: z, qmin, qmax, out })));
  }

  async fakeQuantize(x: Float32Array, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number, out: Float32Array, start: number): Promise<void> {
    if (!this.parallel(x, out)) {
      this.local.fakeQuantize(x, layout, scale, zeroPoint, qmin, qmax, out, start);
      return;
    }
    const s = this.share(scale);
    const z = this.share(zeroPoint);
    await this.dispatch(this.slices(x.length).map(([from, to]) => ({ op: 'fakeQuantize', id: 0, layout, from, to, start, x, scale: s, zeroPoint: z, qmin, qmax, out })));
  }

  async dequantize(q: CodeArray, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, out: Float32Array, start: number): Promise<void> {
    if (!this.parallel(q, out)) {
      this.local.dequantize(q, layout, scale, zeroPoint, out, start);
      return;
    }
    const s = this.share(scale);
    const z = this.share(zeroPoint);
    await this.dispatch(this.slices(q.length).map(([from, to]) => ({ op: 'dequantize', id: 0, layout, from, to, start, q, scale: s, zeroPoint: z, out })));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private parallel(...arrays: (Float32Array | CodeArray)[]): boolean {
    return this.threads > 1 && arrays[0].length >= MIN_PARALLEL_ELEMENTS && arrays.every((a) => a.buffer instanceof SharedArrayBuffer);
  }

  private slices(n: number): [number, number][] {
    const per = Math.ceil(n / this.threads / SLICE_ALIGN) * SLICE_ALIGN;
    const out: [number, number][] = [];
    for (let from = 0; from < n; from += per) out.push([from, Math.min(n, from + per)]);
    return out;
  }

  /** A shared copy of a parameter array, made once per array (the same QParams serves every chunk). */
  private share<T extends Float32Array | Int32Array>(a: T): T {
    if (a.buffer instanceof SharedArrayBuffer) return a;
    let copy = this.sharedCopies.get(a) as T | undefined;
    if (!copy) {
      copy = new (a.constructor as new (b: SharedArrayBuffer) => T)(new SharedArrayBuffer(a.byteLength));
      copy.set(a as never);
      this.sharedCopies.set(a, copy);
    }
    return copy;
  }

  private partialArrays(count: number, paramCount: number): { min: Float32Array; max: Float32Array }[] {
    for (let k = 0; k < count; k++) {
      if (!this.partials[k] || this.partials[k].min.length < paramCount) {
        this.partials[k] = {
          min: new Float32Array(new SharedArrayBuffer(paramCount * 4)),
          max: new Float32Array(new SharedArrayBuffer(paramCount * 4)),
        };
      }
    }
    return this.partials.slice(0, count);
  }

  private dispatch(requests: WorkerRequest[]): Promise<void> {
    if (this.closed) return Promise.reject(new QuantError('INVALID_ARGUMENT', 'the worker pool is closed'));
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, left: requests.length });
      requests.forEach((r, k) => this.workers[k].postMessage({ ...r, id }));
    });
  }

  private settle(r: WorkerReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    if (r.error !== undefined) p.error ??= r.error;
    if (--p.left > 0) return;
    this.pending.delete(r.id);
    if (p.error !== undefined) p.reject(new QuantError('INVALID_ARGUMENT', `a kernel worker failed: ${p.error}`));
    else p.resolve();
  }

  private failAll(e: Error): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new QuantError('INVALID_ARGUMENT', `a kernel worker crashed: ${e.message}`, { cause: e }));
    }
  }
}

/**
 * The parameters elements [from, to) can use: all of them when the parameter does not depend on
 * the outer index, else the outer rows the range spans (p < (o + 1) · paramOuterStride).
 */
export function paramWindow(layout: BlockLayout, from: number, to: number): [number, number] {
  if (layout.paramOuterStride === 0 || to <= from) return [0, layout.paramCount];
  const rowLen = layout.inner * layout.axisLen;
  const o0 = Math.floor(from / rowLen);
  const o1 = Math.floor((to - 1) / rowLen);
  return [o0 * layout.paramOuterStride, Math.min(layout.paramCount, (o1 + 1) * layout.paramOuterStride)];
}
