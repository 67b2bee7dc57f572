import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CodeArray, CodeStorage } from '../../core/dtypes.js';
import { CODE_ARRAY_NAMES_TEXT, codeStorageOf } from '../../core/dtypes.js';
import { QuantError } from '../../core/errors.js';
import type { Kernels } from '../../core/kernels/contract.js';
import type { WasmArena } from '../../core/kernels/index.js';
import { createWasmArena, getKernels, isWasmArray, sharedWasmMemory, wasmScratchBytes, wasmView } from '../../core/kernels/index.js';
import type { WasmHeap } from '../../core/kernels/wasm-memory.js';
import { alignUp, wasmHeap } from '../../core/kernels/wasm-memory.js';
import type { BlockLayout } from '../../core/layout.js';
import type { ChunkRunner } from './chunk-runner.js';
import { runKernelRequest } from './run-kernel-request.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.js';

/** What a quantize, fake-quantize or dequantize request adds to its slice and staged parameters. */
type AffineFields = WorkerRequest extends infer R ? (R extends { op: 'quantize' | 'fakeQuantize' | 'dequantize' } ? Omit<R, 'id' | 'layout' | 'start' | 'n' | 'params' | 'scratch' | 'scale' | 'zeroPoint'> : never) : never;

/** Below this many elements a call runs on the calling thread: a message round trip would cost more than it saves. */
export const MIN_PARALLEL_ELEMENTS = 1 << 16;
/** Slice boundaries fall on multiples of this (relative to the chunk), so SIMD loops see whole vectors. */
const SLICE_ALIGN = 64;
/** Parameters a worker's first scratch region serves; larger windows get a larger region. */
const INITIAL_SCRATCH_PARAMS = 4096;

/** A block of the shared memory, owned by the pool, reallocated larger when a call needs more. */
interface Region {
  ptr: number;
  bytes: number;
}

/** Slot 0 is the calling thread (no worker; its kernels allocate their own scratch), 1.. are workers. */
interface PoolWorker {
  readonly worker?: Worker;
  readonly scratch?: Region;
  /** Where this worker's parameter window (or min/max partials) is copied for a call. */
  readonly params: Region;
}

type Pending = { resolve: () => void; reject: (e: Error) => void; left: number; error?: string };

/** One worker's part of a call: elements [from, from + n) of the chunk, rebased (see rebaseSlice). */
interface Part {
  readonly from: number;
  readonly n: number;
  readonly slice: RebasedSlice;
}

/**
 * The kernels on `threads` threads over ONE shared WebAssembly.Memory: the calling thread and
 * threads − 1 workers. The pool posts the memory to each worker, which attaches its kernels to it
 * (attachWasmMemory) and gets a scratch region of its own; a call splits its elements into one
 * contiguous slice per thread, posts the workers only addresses (nothing is copied or cloned but
 * the few parameters a slice uses) and runs the first slice itself meanwhile, rather than idle.
 * Every slice runs the ordinary kernel with the slice's `start`, so results are bit-identical to
 * one thread. min/max are folded per worker into a copy of the running extremes of the parameters
 * its slice touches, then copied back, merged where two windows share parameters (min and max are
 * order-independent; NaN propagates through Math.min/Math.max as through the kernels).
 *
 * Arrays must live in that memory to be split (allocFloat32/allocCodes, or any createWasmArena
 * array); other arrays, calls below MIN_PARALLEL_ELEMENTS, and every call where shared memory is
 * unavailable run on the calling thread instead, with the same results. Calls run one at a time
 * in the order made.
 */
export class KernelPool implements ChunkRunner {
  readonly threads: number;
  /** Calls split across the workers so far (the others ran on the calling thread). */
  parallelCalls = 0;
  private readonly workers: PoolWorker[] = [];
  private readonly heap: WasmHeap | undefined;
  private readonly local: Kernels;
  private readonly arena: WasmArena;
  private readonly pending = new Map<number, Pending>();
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private closed = false;

  private constructor(threads: number) {
    this.local = getKernels();
    this.arena = createWasmArena();
    const memory = sharedWasmMemory();
    // A thread that attached someone else's memory cannot allocate in it: no workers of its own.
    this.heap = memory ? wasmHeap() : undefined;
    if (!memory || !this.heap) {
      this.threads = 1;
      return;
    }
    this.threads = threads;
    this.workers.push({ params: this.allocRegion(2 * alignUp(INITIAL_SCRATCH_PARAMS * 4)) });
    for (let k = 1; k < threads; k++) {
      const scratch = this.allocRegion(wasmScratchBytes(INITIAL_SCRATCH_PARAMS));
      const params = this.allocRegion(2 * alignUp(INITIAL_SCRATCH_PARAMS * 4));
      const workerData: WorkerInit = { memory, scratchPtr: scratch.ptr, scratchBytes: scratch.bytes };
      const worker = new Worker(new URL('./kernel-worker.js', import.meta.url), { workerData });
      worker.on('message', (r: WorkerReply) => this.settle(r));
      worker.on('error', (e) => this.failAll(e));
      worker.on('exit', (code) => {
        if (!this.closed) this.failAll(new Error(`a kernel worker exited with code ${code}`));
      });
      this.workers.push({ worker, scratch, params });
    }
  }

  /** A pool working on `threads` threads, this one included (default: the machine's parallelism, at least 2). */
  static create(threads = Math.max(2, availableParallelism())): KernelPool {
    if (!Number.isSafeInteger(threads) || threads < 1) {
      throw new QuantError('INVALID_ARGUMENT', `a worker pool needs a positive whole number of threads, got ${threads}`);
    }
    return new KernelPool(threads);
  }

  allocFloat32(n: number): Float32Array {
    return this.arena.float32(n);
  }

  allocCodes(storage: CodeStorage, n: number): CodeArray {
    return this.arena.codes(storage, n);
  }

  minMax(x: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array, start: number, finiteOnly: boolean): Promise<void> {
    return this.serial(async () => {
      if (!this.parallel(x)) return this.local.minMax(x, layout, min, max, start, finiteOnly);
      const parts = this.split(layout, start, x.length);
      const requests = parts.map((p, k): WorkerRequest => {
        const { lo, hi } = p.slice;
        const count = hi - lo;
        const region = this.paramRegion(k, count);
        // Each worker folds its slice into a copy of the running extremes of its window.
        const maxPtr = region.ptr + alignUp(count * 4);
        wasmView(Float32Array, region.ptr, count).set(min.subarray(lo, hi));
        wasmView(Float32Array, maxPtr, count).set(max.subarray(lo, hi));
        return { op: 'minMax', id: 0, ...this.sliceFields(k, p), x: x.byteOffset + p.from * 4, min: region.ptr, max: maxPtr, finiteOnly };
      });
      await this.dispatch(requests);
      // Windows of consecutive slices overlap at most where one slice ends and the next begins
      // (all of them for per-axis layouts): merge there, copy elsewhere.
      let merged = 0;
      parts.forEach((p, k) => {
        const { lo, hi } = p.slice;
        const count = hi - lo;
        const ptr = this.workers[k].params.ptr;
        const pmin = wasmView(Float32Array, ptr, count);
        const pmax = wasmView(Float32Array, ptr + alignUp(count * 4), count);
        const overlap = Math.max(0, Math.min(hi, merged) - lo);
        for (let j = 0; j < overlap; j++) {
          min[lo + j] = Math.min(min[lo + j], pmin[j]);
          max[lo + j] = Math.max(max[lo + j], pmax[j]);
        }
        if (overlap < count) {
          min.set(pmin.subarray(overlap), lo + overlap);
          max.set(pmax.subarray(overlap), lo + overlap);
        }
        merged = Math.max(merged, hi);
      });
    });
  }

  quantize(x: Float32Array, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number, out: CodeArray, start: number): Promise<void> {
    const storage = storageOf(out);
    return this.affine(x, out, layout, start, scale, zeroPoint, () => this.local.quantize(x, layout, scale, zeroPoint, qmin, qmax, out, start), (from) => ({
      op: 'quantize',
      x: x.byteOffset + from * 4,
      out: out.byteOffset + from * out.BYTES_PER_ELEMENT,
      storage,
      qmin,
      qmax,
    }));
  }

  fakeQuantize(x: Float32Array, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number, out: Float32Array, start: number): Promise<void> {
    return this.affine(x, out, layout, start, scale, zeroPoint, () => this.local.fakeQuantize(x, layout, scale, zeroPoint, qmin, qmax, out, start), (from) => ({
      op: 'fakeQuantize',
      x: x.byteOffset + from * 4,
      out: out.byteOffset + from * 4,
      qmin,
      qmax,
    }));
  }

  dequantize(q: CodeArray, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, out: Float32Array, start: number): Promise<void> {
    const storage = storageOf(q);
    return this.affine(q, out, layout, start, scale, zeroPoint, () => this.local.dequantize(q, layout, scale, zeroPoint, out, start), (from) => ({
      op: 'dequantize',
      q: q.byteOffset + from * q.BYTES_PER_ELEMENT,
      storage,
      out: out.byteOffset + from * 4,
    }));
  }

  /**
   * One affine kernel over the workers: in this thread (`local`) unless both arrays live in the
   * shared memory and are long enough; else a slice per worker with its window of parameters
   * staged, `fields(from)` adding the operation and the slice's addresses.
   */
  private affine(
    input: Float32Array | CodeArray,
    out: Float32Array | CodeArray,
    layout: BlockLayout,
    start: number,
    scale: Float32Array,
    zeroPoint: Int32Array,
    local: () => void,
    fields: (from: number) => AffineFields,
  ): Promise<void> {
    return this.serial(async () => {
      if (!this.parallel(input, out) || out.length < input.length) return local();
      await this.dispatch(
        this.split(layout, start, input.length).map((p, k) => ({ id: 0, ...this.sliceFields(k, p), ...this.stageParams(k, p.slice, scale, zeroPoint), ...fields(p.from) }) as WorkerRequest),
      );
    });
  }

  /** Stops the workers and frees every region and array of the pool (alloc* arrays die with it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await Promise.all(this.workers.map((w) => w.worker?.terminate()));
    for (const w of this.workers) {
      if (w.scratch) this.heap?.release(w.scratch.ptr);
      this.heap?.release(w.params.ptr);
    }
    this.workers.length = 0;
    this.arena.free();
  }

  /** Runs calls one at a time: the per-worker regions are reused by the next call. */
  private serial(task: () => Promise<void> | void): Promise<void> {
    if (this.closed) return Promise.reject(new QuantError('INVALID_ARGUMENT', 'the worker pool is closed'));
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private parallel(...arrays: (Float32Array | CodeArray)[]): boolean {
    return this.workers.length > 1 && arrays[0].length >= MIN_PARALLEL_ELEMENTS && arrays.every((a) => isWasmArray(a));
  }

  /** One contiguous slice per worker (the last may be shorter), each rebased for its kernel call. */
  private split(layout: BlockLayout, start: number, n: number): Part[] {
    const per = Math.ceil(n / this.workers.length / SLICE_ALIGN) * SLICE_ALIGN;
    const parts: Part[] = [];
    for (let from = 0; from < n; from += per) {
      const len = Math.min(per, n - from);
      parts.push({ from, n: len, slice: rebaseSlice(layout, start + from, len) });
    }
    return parts;
  }

  /** The fields every request has; a larger scratch region for worker k when its window needs one. */
  private sliceFields(k: number, p: Part): { layout: BlockLayout; start: number; n: number; params: number; scratch?: { ptr: number; bytes: number } } {
    const params = p.slice.hi - p.slice.lo;
    const w = this.workers[k];
    const need = wasmScratchBytes(params);
    let scratch: { ptr: number; bytes: number } | undefined;
    if (w.scratch && need > w.scratch.bytes) {
      // The worker finished its previous call (calls are serial), so its old region is free.
      this.growRegion(w.scratch, need);
      scratch = { ptr: w.scratch.ptr, bytes: w.scratch.bytes };
    }
    return { layout: p.slice.layout, start: p.slice.start, n: p.n, params, scratch };
  }

  /** Scale and zero point addresses for a slice: in place when they live in the memory, else its window copied into worker k's region. */
  private stageParams(k: number, s: RebasedSlice, scale: Float32Array, zeroPoint: Int32Array): { scale: number; zeroPoint: number } {
    const { lo, hi } = s;
    if (scale.length < hi || zeroPoint.length < hi) {
      throw new QuantError('INVALID_PARAMS', `the layout needs ${hi} parameters, got ${Math.min(scale.length, zeroPoint.length)}`);
    }
    if (isWasmArray(scale) && isWasmArray(zeroPoint)) return { scale: scale.byteOffset + lo * 4, zeroPoint: zeroPoint.byteOffset + lo * 4 };
    const count = hi - lo;
    const region = this.paramRegion(k, count);
    const zpPtr = region.ptr + alignUp(count * 4);
    wasmView(Float32Array, region.ptr, count).set(scale.subarray(lo, hi));
    wasmView(Int32Array, zpPtr, count).set(zeroPoint.subarray(lo, hi));
    return { scale: region.ptr, zeroPoint: zpPtr };
  }

  /** Worker k's parameter region, holding two arrays of `count` 32-bit values. */
  private paramRegion(k: number, count: number): Region {
    const region = this.workers[k].params;
    const need = 2 * alignUp(Math.max(1, count) * 4);
    if (need > region.bytes) this.growRegion(region, need);
    return region;
  }

  private allocRegion(bytes: number): Region {
    return { ptr: this.heap!.alloc(bytes), bytes };
  }

  private growRegion(region: Region, bytes: number): void {
    this.heap!.release(region.ptr);
    region.bytes = Math.max(bytes, 2 * region.bytes);
    region.ptr = this.heap!.alloc(region.bytes);
  }

  /** Posts requests 1.. to their workers, runs request 0 here, and settles once all are done. */
  private async dispatch(requests: WorkerRequest[]): Promise<void> {
    const id = this.nextId++;
    this.parallelCalls++;
    const others =
      requests.length < 2
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            this.pending.set(id, { resolve, reject, left: requests.length - 1 });
            for (let k = 1; k < requests.length; k++) this.workers[k].worker!.postMessage({ ...requests[k], id });
          });
    let failure: unknown;
    try {
      runKernelRequest(this.local, requests[0]);
    } catch (e) {
      failure = e;
    }
    // The workers may still be writing into the caller's arrays: wait for them even after a failure.
    await others.catch((e: unknown) => {
      failure ??= e;
    });
    if (failure !== undefined) throw failure;
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

function storageOf(a: CodeArray): CodeStorage {
  // The constructor itself: a subclass (a Node Buffer) is refused, as before.
  const s = codeStorageOf(a, true);
  if (!s) throw new QuantError('INVALID_ARGUMENT', `codes must be ${CODE_ARRAY_NAMES_TEXT}, got ${Object.prototype.toString.call(a)}`);
  return s;
}

/** A slice of a tensor seen from its first outer row: what a worker's kernel call needs. */
export interface RebasedSlice {
  /** The layout with the outer rows before the slice dropped (size and paramCount shrink). */
  readonly layout: BlockLayout;
  /** The slice's first element in that layout. */
  readonly start: number;
  /** Parameters [lo, hi) of the full layout the slice uses; parameter lo is index 0 of the rebased one. */
  readonly lo: number;
  readonly hi: number;
}

/**
 * Rebases elements [start, start + n) of `layout` to their first outer row o0 = ⌊start / rowLen⌋
 * (rowLen = inner · axisLen). Parameter p = o · paramOuterStride + f(a, i) with f < paramOuterStride,
 * so dropping o0 rows shifts every parameter index by lo = o0 · paramOuterStride, and the slice
 * uses only [lo, hi) with hi = (o1 + 1) · paramOuterStride for its last row o1: the kernel then
 * needs just that window, indexed from 0. Per-axis layouts (paramOuterStride 0) reuse every
 * parameter in every row and are not rebased.
 */
export function rebaseSlice(layout: BlockLayout, start: number, n: number): RebasedSlice {
  const stride = layout.paramOuterStride;
  if (stride === 0 || n <= 0) return { layout, start, lo: 0, hi: layout.paramCount };
  const rowLen = layout.inner * layout.axisLen;
  const o0 = Math.floor(start / rowLen);
  const o1 = Math.floor((start + n - 1) / rowLen);
  const base = o0 * rowLen;
  const lo = o0 * stride;
  const hi = Math.min(layout.paramCount, (o1 + 1) * stride);
  if (lo === 0) return { layout, start, lo, hi };
  return { layout: { ...layout, size: layout.size - base, paramCount: layout.paramCount - lo }, start: start - base, lo, hi };
}
