import { QuantError } from '../errors.js';
import type { BlockLayout } from '../layout.js';
import { kernelsWasmBytes } from './kernels-wasm.generated.js';
import { alignUp, ensureWasmBytes, isWasmArray, sharedKernels, wasmHeap, wasmMemoryAttached } from './wasm-memory.js';

/*
 * The kernel instances wasm.ts calls: instantiating the module (over its own memory, or over the
 * shared one), each instance's scratch region and its growth, and staging arrays through it.
 */

/**
 * Elements staged per chunk. The caller's arrays live in the JS heap, so each chunk is copied into
 * linear memory, processed, and copied out; 16 Ki elements (64 KiB of float32 in, at most 64 KiB
 * out) keeps both staging buffers in L2 while making the per-chunk call overhead negligible.
 * Measured with bench/kernels.bench.mjs-style runs on 16 Mi elements: 8 Ki to 64 Ki elements are
 * within run-to-run noise (the DRAM traffic of the copies dominates), so the middle is kept.
 * A multiple of 64 so pack/unpack chunks end on whole bytes.
 */
export const CHUNK = 16384;

/**
 * Limits within which the SIMD arithmetic is exact, hence equal to the reference: zero points are
 * folded into float32 clamp bounds and an integer offset, and the shifted values must stay below
 * 2^22 for the rounding trick in assembly/lib/affine.ts. chooseQParams never leaves them (its
 * zero points lie in [qmin, qmax] ⊆ [−32768, 65535]); other calls go to the reference kernels.
 */
const ZERO_POINT_LIMIT = 2 ** 21;
export const FAKE_RANGE_LIMIT = 2 ** 22;

type Chunked = (src: number, dst: number, n: number, start: number) => void;

interface KernelExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  setLayout(inner: number, axisLen: number, blockSize: number, paramOuterStride: number, varyInner: number, paramLo: number): void;
  setParams(paramA: number, paramB: number, qmin: number, qmax: number): void;
  zeroPointsWithin(ptr: number, count: number, limit: number): number;
  minMaxKeysIn(count: number): void;
  minMaxKeysOut(count: number): void;
  quantizeI8: Chunked;
  quantizeU8: Chunked;
  quantizeI16: Chunked;
  quantizeU16: Chunked;
  dequantizeI8: Chunked;
  dequantizeU8: Chunked;
  dequantizeI16: Chunked;
  dequantizeU16: Chunked;
  fakeQuantize: Chunked;
  minMax(x: number, n: number, start: number, finiteOnly: number): void;
  pack2(src: number, dst: number, n: number): void;
  pack4(src: number, dst: number, n: number): void;
  unpack2(src: number, dst: number, n: number, signed: number): void;
  unpack4(src: number, dst: number, n: number, signed: number): void;
  histogram(x: number, n: number, lo: number, scale: number, bins: number, hist: number): void;
}

/**
 * Bytes of scratch one kernel instance needs for calls touching up to `paramCount` parameters: the
 * two CHUNK staging buffers, then scales and zero points (or minima, maxima and the NaN flags of
 * the vector-parameter min/max), each padded to 64 bytes.
 */
export function wasmScratchBytes(paramCount: number): number {
  return 2 * CHUNK * 4 + 3 * alignUp(Math.max(1, paramCount) * 4);
}

/**
 * One kernel instance and its scratch region: staged input chunk, staged output chunk, then the
 * parameters (A: scales or minima, B: zero points or maxima). Over the unshared memory the region
 * sits at heapBase and the memory grows under it (detaching views, which are then rebuilt). Over
 * the shared memory the region is an allocation of the thread's WasmHeap, or, in a worker that
 * attached its parent's memory, the range its parent handed it (setWasmScratch).
 */
export class Runtime {
  readonly ex: KernelExports;
  /** Arrays over this memory's buffers run in place. */
  readonly shared: boolean;
  private region = 0;
  private regionBytes = 0;
  inPtr = 0;
  outPtr = 0;
  paramPtr = 0;
  private buffer: ArrayBufferLike | undefined;
  f32!: Float32Array;
  i32!: Int32Array;
  u8!: Uint8Array;
  i8!: Int8Array;
  /** Full-chunk views of the stages, one per element type, so copying needs no allocation. */
  inCodes!: [Int8Array, Uint8Array, Int16Array, Uint16Array];
  outCodes!: [Int8Array, Uint8Array, Int16Array, Uint16Array];
  outF32!: Float32Array;
  /** Where the last stageParams put its parameters: indices [paramLo, paramLo + paramCount). */
  paramLo = 0;
  paramCount = 0;
  aPtr = 0;
  bPtr = 0;

  constructor(ex: KernelExports, shared: boolean) {
    this.ex = ex;
    this.shared = shared;
    if (!shared) this.place((ex.heapBase() + 63) & ~63, Infinity);
    else if (!wasmMemoryAttached()) this.reserve(wasmScratchBytes(16 * 1024));
  }

  /** Uses [ptr, ptr + bytes) as the scratch region (a worker's, handed over by its parent). */
  place(ptr: number, bytes: number): void {
    this.region = ptr;
    this.regionBytes = bytes;
    this.inPtr = ptr;
    this.outPtr = ptr + CHUNK * 4;
    this.paramPtr = this.outPtr + CHUNK * 4;
    this.buffer = undefined;
    this.ensure(this.paramPtr + 64 * 1024 <= ptr + bytes ? this.paramPtr + 64 * 1024 : ptr + bytes);
  }

  /** A region of at least `bytes`: grows (reallocates) the heap region; a fixed region must already fit. */
  private reserve(bytes: number): void {
    if (bytes <= this.regionBytes) return;
    const heap = wasmHeap();
    if (!heap) {
      throw new QuantError('INVALID_ARGUMENT', `this kernel instance has ${this.regionBytes} bytes of scratch, the call needs ${bytes} (pass a larger region to setWasmScratch)`);
    }
    if (this.regionBytes > 0) heap.release(this.region);
    const size = Math.max(bytes, 2 * this.regionBytes);
    this.place(heap.alloc(size), size);
  }

  /** Makes [region, end) addressable and the views current. */
  ensure(end: number): void {
    if (this.shared) {
      if (end > this.region + this.regionBytes) this.reserve(end - this.region);
      ensureWasmBytes(end);
    } else {
      const mem = this.ex.memory;
      const have = mem.buffer.byteLength;
      if (have < end) mem.grow(Math.ceil((end - have) / 65536));
    }
    const b = this.ex.memory.buffer;
    if (this.buffer === b) return;
    this.buffer = b;
    this.f32 = new Float32Array(b);
    this.i32 = new Int32Array(b);
    this.u8 = new Uint8Array(b);
    this.i8 = new Int8Array(b);
    this.inCodes = [new Int8Array(b, this.inPtr, CHUNK), new Uint8Array(b, this.inPtr, CHUNK), new Int16Array(b, this.inPtr, CHUNK), new Uint16Array(b, this.inPtr, CHUNK)];
    this.outCodes = [new Int8Array(b, this.outPtr, CHUNK), new Uint8Array(b, this.outPtr, CHUNK), new Int16Array(b, this.outPtr, CHUNK), new Uint16Array(b, this.outPtr, CHUNK)];
    this.outF32 = new Float32Array(b, this.outPtr, CHUNK);
  }

  /** Whether [region, end) can be made addressable: always, unless the region is a fixed one handed over by setWasmScratch. */
  canHold(end: number): boolean {
    return !this.shared || !wasmMemoryAttached() || end <= this.region + this.regionBytes;
  }

  /** Byte address of `a` when it is a view of this instance's shared memory (kernels then run on it in place), else -1. */
  ptrOf(a: ArrayBufferView): number {
    return this.shared && isWasmArray(a) ? a.byteOffset : -1;
  }

  /**
   * Copies the parameters elements [start, start + n) use into linear memory once per call and
   * sets the layout and [qmin, qmax]. Returns false when a zero point is outside the exact range.
   */
  stageParams(layout: BlockLayout, start: number, n: number, a: Float32Array, b: Float32Array | Int32Array, qmin: number, qmax: number, checkZeroPoints: boolean): boolean {
    const [lo, hi] = paramRange(layout, start, n);
    if (hi >= a.length || hi >= b.length) {
      throw new QuantError('INVALID_PARAMS', `the layout needs ${hi + 1} parameters for elements ${start}..${start + n - 1}, got ${Math.min(a.length, b.length)}`);
    }
    const count = hi - lo + 1;
    const stride = alignUp(count * 4);
    // Scales, zero points, then the NaN flags of the vector-parameter min/max (see min-max.ts).
    this.ensure(this.paramPtr + 3 * stride);
    const aPtr = this.paramPtr;
    const bPtr = aPtr + stride;
    if (count === 1) {
      this.f32[aPtr >> 2] = a[lo];
      if (b instanceof Int32Array) this.i32[bPtr >> 2] = b[lo];
      else this.f32[bPtr >> 2] = b[lo];
    } else {
      this.f32.set(a.subarray(lo, hi + 1), aPtr >> 2);
      if (b instanceof Int32Array) this.i32.set(b.subarray(lo, hi + 1), bPtr >> 2);
      else this.f32.set(b.subarray(lo, hi + 1), bPtr >> 2);
    }
    // Checked on the staged copy with SIMD: a JS loop over the 512 Ki zero points of a per-block
    // tensor cost 0.6-1 ms a call, a tenth of the kernel.
    if (checkZeroPoints) {
      const within = b instanceof Int32Array ? this.ex.zeroPointsWithin(bPtr, count, ZERO_POINT_LIMIT) !== 0 : b.subarray(lo, hi + 1).every((z) => !(z > ZERO_POINT_LIMIT || z < -ZERO_POINT_LIMIT));
      if (!within) return false;
    }
    const blockSize = Math.min(layout.blockSize, layout.axisLen);
    this.ex.setLayout(layout.inner, layout.axisLen, blockSize, layout.paramOuterStride, layout.varyInner ? 1 : 0, lo);
    this.ex.setParams(aPtr, bPtr, qmin, qmax);
    this.paramLo = lo;
    this.paramCount = count;
    this.aPtr = aPtr;
    this.bPtr = bPtr;
    return true;
  }
}

/**
 * The smallest and largest parameter index elements [start, start + n) use. Parameters grow with
 * the outer index unless paramOuterStride is 0 (per-axis), where every outer index reuses them all.
 */
export function paramRange(layout: BlockLayout, start: number, n: number): [number, number] {
  const { inner, axisLen, paramOuterStride: stride, varyInner } = layout;
  const width = varyInner ? inner : 1;
  const at = (g: number): [number, number] => {
    const r = Math.floor(g / inner);
    const o = Math.floor(r / axisLen);
    return [o, o * stride + Math.floor((r - o * axisLen) / layout.blockSize) * width];
  };
  const [o0, p0] = at(start);
  const [o1, p1] = at(start + n - 1);
  if (o0 !== o1 && stride === 0) return [0, layout.paramCount - 1];
  return [p0, p1 + width - 1];
}

let runtime: Runtime | undefined;
let sharedRuntime: Runtime | null | undefined;
let unavailable: unknown;

/**
 * The instance over the module's own (unshared) memory: it stages arrays that live in the JS heap.
 * Those go here even where shared memory exists, because V8 copies into and out of a
 * SharedArrayBuffer with relaxed-atomic word copies: staging 64 KiB chunks through the shared
 * memory measured 2.2x a plain copy for quantize, against 1.6x through an ordinary one.
 */
export function getRuntime(): Runtime {
  if (runtime) return runtime;
  if (unavailable !== undefined) throw new QuantError('UNSUPPORTED', 'WebAssembly SIMD is not available in this runtime', { cause: unavailable });
  try {
    // Synchronous compile: the module is small, and this keeps the kernels usable from sync code.
    const instance = new WebAssembly.Instance(new WebAssembly.Module(kernelsWasmBytes()), {});
    runtime = new Runtime(instance.exports as unknown as KernelExports, false);
    return runtime;
  } catch (e) {
    unavailable = e;
    throw new QuantError('UNSUPPORTED', 'WebAssembly SIMD is not available in this runtime', { cause: e });
  }
}

/** The instance over the shared memory (in-place work on arrays living there), or undefined. */
export function getSharedRuntime(): Runtime | undefined {
  if (sharedRuntime !== undefined) return sharedRuntime ?? undefined;
  const shared = sharedKernels();
  sharedRuntime = null;
  if (!shared) return undefined;
  const instance = new WebAssembly.Instance(shared.module, { env: { memory: shared.memory } });
  sharedRuntime = new Runtime(instance.exports as unknown as KernelExports, true);
  return sharedRuntime;
}

/**
 * The shared-memory instance when either array lives in the shared memory, else the staging one.
 * Arrays of at most one CHUNK also stage through the shared instance while the staging one does
 * not exist yet and this thread owns its memory (no fixed scratch region to outgrow): a single
 * chunk's copy costs the same either way, and a small run (a 16-value file, a layer's scales)
 * then never decodes and compiles the second module, a few milliseconds of every start-up.
 */
export function runtimeFor(a: ArrayBufferView, b?: ArrayBufferView): Runtime {
  if (isWasmArray(a) || (b !== undefined && isWasmArray(b))) {
    const rt = getSharedRuntime();
    if (rt) return rt;
  }
  if (runtime === undefined && !wasmMemoryAttached() && a.byteLength <= CHUNK * 4 && (b === undefined || b.byteLength <= CHUNK * 4)) {
    const rt = getSharedRuntime();
    if (rt) return rt;
  }
  return getRuntime();
}

/**
 * Hands this thread's kernel instance the scratch region [ptr, ptr + bytes) of the shared memory:
 * for a worker that attached its parent's memory (attachWasmMemory) and cannot allocate in it.
 * Each instance needs its own region (wasmScratchBytes tells how much a call needs).
 */
export function setWasmScratch(ptr: number, bytes: number): void {
  const rt = getSharedRuntime();
  if (!rt || !wasmMemoryAttached()) throw new QuantError('INVALID_ARGUMENT', 'setWasmScratch is for a thread that attached a shared kernel memory');
  if (ptr % 64 !== 0 || bytes < wasmScratchBytes(1)) throw new QuantError('INVALID_ARGUMENT', `a scratch region must start on 64 bytes and hold at least ${wasmScratchBytes(1)} bytes, got ${bytes} at ${ptr}`);
  rt.place(ptr, bytes);
}

/** Whether kernels run in place on arrays living in a shared WebAssembly memory (see createWasmArena). */
export function wasmZeroCopy(): boolean {
  return wasmAvailable() && getSharedRuntime() !== undefined;
}

/** Whether this runtime can instantiate the SIMD kernels (compiles them on first call). */
export function wasmAvailable(): boolean {
  if (typeof WebAssembly !== 'object') return false;
  // The shared module is the same kernels: if it instantiated, so does the staging one (compiled
  // only when a large array in the JS heap needs it).
  if (runtime === undefined && unavailable === undefined && getSharedRuntime() !== undefined) return true;
  try {
    getRuntime();
    return true;
  } catch {
    return false;
  }
}

export type Run = (src: number, dst: number, len: number, off: number) => void;
export type View = Int8Array | Uint8Array | Int16Array | Uint16Array | Float32Array;

/** stream() for a float32 input with one output element per input element. */
export function streamFloats(rt: Runtime, x: Float32Array, out: View, outStage: View, run: Run): void {
  stream(rt, x, rt.f32.subarray(rt.inPtr >> 2, (rt.inPtr >> 2) + CHUNK), 1, x.length, out, outStage, 1, run);
}

/**
 * Runs `run` over n elements, in place where it can: an input that lives in the shared memory is
 * read where it is, an output that lives there is written where it is, and only the other side is
 * staged through the CHUNK-sized buffers (each staged chunk is copied once, in or out). With both
 * in linear memory it is a single call, with no copy at all. inPer / outPer are array elements
 * per processed element: 1, or 1 / perByte for packed sub-byte bytes (chunks stay whole bytes as
 * CHUNK is a multiple of 64).
 */
export function stream(rt: Runtime, input: View, inStage: View, inPer: number, n: number, out: View, outStage: View, outPer: number, run: Run): void {
  const ip = rt.ptrOf(input);
  const op = rt.ptrOf(out);
  if (ip >= 0 && op >= 0) {
    run(ip, op, n, 0);
    return;
  }
  for (let off = 0; off < n; off += CHUNK) {
    const len = Math.min(CHUNK, n - off);
    const from = off * inPer;
    const to = off * outPer;
    let src = ip + from * input.BYTES_PER_ELEMENT;
    if (ip < 0) {
      (inStage as Uint8Array).set(input.subarray(from, from + Math.ceil(len * inPer)) as Uint8Array);
      src = rt.inPtr;
    }
    run(src, op >= 0 ? op + to * out.BYTES_PER_ELEMENT : rt.outPtr, len, off);
    if (op < 0) {
      const count = Math.ceil(len * outPer);
      (out as Uint8Array).set((count === outStage.length ? outStage : outStage.subarray(0, count)) as Uint8Array, to);
    }
  }
}
