import type { CodeArray } from '../dtypes.js';
import { CODE_ARRAY_NAMES_TEXT, CODE_STORAGE_NAMES, CODE_STORAGES, codeStorageOf } from '../dtypes.js';
import { QuantError } from '../errors.js';
import type { BlockLayout } from '../layout.js';
import type { Kernels } from './contract.js';
import { kernelsWasmBytes } from './kernels-wasm.generated.js';
import { referenceKernels } from './reference.js';
import { alignUp, ensureWasmBytes, isWasmArray, sharedKernels, wasmHeap, wasmMemoryAttached } from './wasm-memory.js';

/**
 * Elements staged per chunk. The caller's arrays live in the JS heap, so each chunk is copied into
 * linear memory, processed, and copied out; 16 Ki elements (64 KiB of float32 in, at most 64 KiB
 * out) keeps both staging buffers in L2 while making the per-chunk call overhead negligible.
 * Measured with bench/kernels.bench.mjs-style runs on 16 Mi elements: 8 Ki to 64 Ki elements are
 * within run-to-run noise (the DRAM traffic of the copies dominates), so the middle is kept.
 * A multiple of 64 so pack/unpack chunks end on whole bytes.
 */
const CHUNK = 16384;

/**
 * Limits within which the SIMD arithmetic is exact, hence equal to the reference: zero points are
 * folded into float32 clamp bounds and an integer offset, and the shifted values must stay below
 * 2^22 for the rounding trick in assembly/lib/affine.ts. chooseQParams never leaves them (its
 * zero points lie in [qmin, qmax] ⊆ [−32768, 65535]); other calls go to the reference kernels.
 */
const ZERO_POINT_LIMIT = 2 ** 21;
const FAKE_RANGE_LIMIT = 2 ** 22;

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

/** Code storage: index into the per-storage tables below. */
const enum Storage { I8, U8, I16, U16 }
// Storage follows CODE_STORAGE_NAMES' order (int8, uint8, int16, uint16).
const STORAGE_RANGE: readonly (readonly [number, number])[] = CODE_STORAGE_NAMES.map((k) => [CODE_STORAGES[k].min, CODE_STORAGES[k].max] as const);

function storageOf(a: CodeArray): Storage {
  const k = codeStorageOf(a);
  if (k === undefined) throw new QuantError('INVALID_ARGUMENT', `codes must be ${CODE_ARRAY_NAMES_TEXT}, got ${Object.prototype.toString.call(a)}`);
  return CODE_STORAGE_NAMES.indexOf(k) as Storage;
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
class Runtime {
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
function getRuntime(): Runtime {
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
function getSharedRuntime(): Runtime | undefined {
  if (sharedRuntime !== undefined) return sharedRuntime ?? undefined;
  const shared = sharedKernels();
  sharedRuntime = null;
  if (!shared) return undefined;
  const instance = new WebAssembly.Instance(shared.module, { env: { memory: shared.memory } });
  sharedRuntime = new Runtime(instance.exports as unknown as KernelExports, true);
  return sharedRuntime;
}

/** The shared-memory instance when either array lives in the shared memory, else the staging one. */
function runtimeFor(a: ArrayBufferView, b?: ArrayBufferView): Runtime {
  if (isWasmArray(a) || (b !== undefined && isWasmArray(b))) {
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
  try {
    getRuntime();
    return true;
  } catch {
    return false;
  }
}

function checkChunk(layout: BlockLayout, start: number, n: number, outLength: number, what: string): void {
  if (!Number.isSafeInteger(start) || start < 0 || start + n > layout.size) {
    throw new QuantError('SHAPE_MISMATCH', `${what}: a chunk of ${n} elements at ${start} does not fit a tensor of ${layout.size} elements`);
  }
  if (outLength < n) throw new QuantError('SHAPE_MISMATCH', `${what}: output has ${outLength} elements, expected at least ${n}`);
}

/** qmin and qmax the SIMD path reproduces exactly: ordered integers inside [lo, hi]. */
function exactRange(qmin: number, qmax: number, lo: number, hi: number): boolean {
  return Number.isInteger(qmin) && Number.isInteger(qmax) && lo <= qmin && qmin <= qmax && qmax <= hi;
}

/** Kernels are u32 inside; bigger tensors (beyond any typed array in practice) use the reference. */
const MAX_ELEMENTS = 2 ** 32 - 1;

/**
 * The WebAssembly SIMD kernels: the same results as referenceKernels, bit for bit (NaN payloads
 * aside, which JS does not preserve either). Each call stages its parameters in linear memory once,
 * then streams the data through in CHUNK-element pieces. Calls the SIMD arithmetic could not
 * reproduce exactly (zero points beyond ±2^21, qmin/qmax that are not ordered integers inside the
 * output storage, tensors past 2^32 − 1 elements) run the reference kernels instead, so results
 * never differ. The module is compiled on first use.
 */
export const wasmKernels: Kernels = {
  name: 'wasm-simd',

  minMax(x, layout, min, max, start = 0, finiteOnly = false) {
    const n = x.length;
    if (n === 0) return;
    checkChunk(layout, start, n, n, 'minMax');
    if (layout.size > MAX_ELEMENTS) return referenceKernels.minMax(x, layout, min, max, start, finiteOnly);
    const rt = runtimeFor(x);
    rt.stageParams(layout, start, n, min, max, 0, 0, false);
    const { paramLo: lo, paramCount: count, aPtr, bPtr } = rt;
    if (layout.varyInner) rt.ex.minMaxKeysIn(count);
    const xp = rt.ptrOf(x);
    if (xp >= 0) {
      rt.ex.minMax(xp, n, start, finiteOnly ? 1 : 0);
    } else {
      for (let off = 0; off < n; off += CHUNK) {
        const len = Math.min(CHUNK, n - off);
        rt.f32.set(x.subarray(off, off + len), rt.inPtr >> 2);
        rt.ex.minMax(rt.inPtr, len, start + off, finiteOnly ? 1 : 0);
      }
    }
    if (layout.varyInner) rt.ex.minMaxKeysOut(count);
    if (count === 1) {
      min[lo] = rt.f32[aPtr >> 2];
      max[lo] = rt.f32[bPtr >> 2];
    } else {
      min.set(rt.f32.subarray(aPtr >> 2, (aPtr >> 2) + count), lo);
      max.set(rt.f32.subarray(bPtr >> 2, (bPtr >> 2) + count), lo);
    }
  },

  quantize(x, layout, scale, zeroPoint, qmin, qmax, out, start = 0) {
    const n = x.length;
    if (n === 0) return;
    checkChunk(layout, start, n, out.length, 'quantize');
    const kind = storageOf(out);
    const [lo, hi] = STORAGE_RANGE[kind];
    const rt = layout.size <= MAX_ELEMENTS && exactRange(qmin, qmax, lo, hi) ? runtimeFor(x, out) : undefined;
    if (!rt || !rt.stageParams(layout, start, n, scale, zeroPoint, qmin, qmax, true)) {
      return referenceKernels.quantize(x, layout, scale, zeroPoint, qmin, qmax, out, start);
    }
    const ex = rt.ex;
    const fn = kind === Storage.I8 ? ex.quantizeI8 : kind === Storage.U8 ? ex.quantizeU8 : kind === Storage.I16 ? ex.quantizeI16 : ex.quantizeU16;
    streamFloats(rt, x, out, rt.outCodes[kind], (src, dst, len, off) => fn(src, dst, len, start + off));
  },

  dequantize(q, layout, scale, zeroPoint, out, start = 0) {
    const n = q.length;
    if (n === 0) return;
    checkChunk(layout, start, n, out.length, 'dequantize');
    const kind = storageOf(q);
    const rt = layout.size <= MAX_ELEMENTS ? runtimeFor(q, out) : undefined;
    if (!rt || !rt.stageParams(layout, start, n, scale, zeroPoint, 0, 0, true)) {
      return referenceKernels.dequantize(q, layout, scale, zeroPoint, out, start);
    }
    const ex = rt.ex;
    const fn = kind === Storage.I8 ? ex.dequantizeI8 : kind === Storage.U8 ? ex.dequantizeU8 : kind === Storage.I16 ? ex.dequantizeI16 : ex.dequantizeU16;
    stream(rt, q, rt.inCodes[kind], 1, n, out, rt.outF32, 1, (src, dst, len, off) => fn(src, dst, len, start + off));
  },

  fakeQuantize(x, layout, scale, zeroPoint, qmin, qmax, out, start = 0) {
    const n = x.length;
    if (n === 0) return;
    checkChunk(layout, start, n, out.length, 'fakeQuantize');
    const rt = layout.size <= MAX_ELEMENTS && exactRange(qmin, qmax, -FAKE_RANGE_LIMIT, FAKE_RANGE_LIMIT) ? runtimeFor(x, out) : undefined;
    if (!rt || !rt.stageParams(layout, start, n, scale, zeroPoint, qmin, qmax, true)) {
      return referenceKernels.fakeQuantize(x, layout, scale, zeroPoint, qmin, qmax, out, start);
    }
    streamFloats(rt, x, out, rt.outF32, (src, dst, len, off) => rt.ex.fakeQuantize(src, dst, len, start + off));
  },

  pack(codes, bits, out) {
    checkBits(bits);
    const perByte = 8 / bits;
    // As the reference: bytes past out's end are dropped, bytes past the codes are zero.
    const bytes = Math.min(Math.ceil(codes.length / perByte), out.length);
    const n = Math.min(codes.length, bytes * perByte);
    const rt = runtimeFor(codes, out);
    const fn = bits === 4 ? rt.ex.pack4 : rt.ex.pack2;
    if (n > 0) {
      rt.ensure(rt.paramPtr);
      const inStage = codes instanceof Int8Array ? rt.inCodes[Storage.I8] : rt.inCodes[Storage.U8];
      // Output positions advance perByte times slower than input ones: scale the offsets.
      stream(rt, codes, inStage, 1, n, out, rt.outCodes[Storage.U8], 1 / perByte, (src, dst, len) => fn(src, dst, len));
    }
    out.fill(0, bytes);
  },

  unpack(packed, bits, signed, out) {
    checkBits(bits);
    const perByte = 8 / bits;
    // As the reference: codes past the packed bytes read as 0.
    const n = Math.min(out.length, packed.length * perByte);
    const rt = runtimeFor(packed, out);
    const fn = bits === 4 ? rt.ex.unpack4 : rt.ex.unpack2;
    if (n > 0) {
      rt.ensure(rt.paramPtr);
      const outStage = out instanceof Int8Array ? rt.outCodes[Storage.I8] : rt.outCodes[Storage.U8];
      stream(rt, packed, rt.inCodes[Storage.U8], 1 / perByte, n, out, outStage, 1, (src, dst, len) => fn(src, dst, len, signed ? 1 : 0));
    }
    out.fill(0, n);
  },
};

/**
 * Adds x to counts, a histogram of counts.length equal bins over [lo, hi] (callers ensure
 * lo <= x <= hi), by the float32 rule of the reference binning kernel
 * (src/core/observers/histogram-kernel.ts), bit for bit:
 *
 *   scale = f32(bins / (hi − lo)),   bin = clamp(trunc(f32(f32(x − lo) · scale)), 0, bins − 1)
 *
 * With hi <= lo every value lands in bin 0. An x that lives in the shared memory is binned in
 * place; a heap x is staged CHUNK elements at a time. The kernel counts into four u32
 * sub-histograms (16 · bins bytes of scratch after the parameter area), summed into counts at
 * the end.
 */
export function histogramInto(x: Float32Array, lo: number, hi: number, counts: Float64Array): void {
  const n = x.length;
  const bins = counts.length;
  if (n === 0 || bins === 0) return;
  if (!(hi > lo)) {
    counts[0] += n;
    return;
  }
  if (n > MAX_ELEMENTS) {
    // The kernel counts in u32: split so no sub-histogram can wrap.
    for (let off = 0; off < n; off += 2 ** 30) histogramInto(x.subarray(off, Math.min(n, off + 2 ** 30)), lo, hi, counts);
    return;
  }
  let rt = runtimeFor(x);
  // A worker's fixed scratch region may be too small for the sub-histograms: stage through the
  // thread's own memory instead, which grows as needed.
  if (!rt.canHold(rt.paramPtr + 16 * bins)) rt = getRuntime();
  rt.ensure(rt.paramPtr + 16 * bins);
  // Read after ensure: growing a shared instance's region may move it.
  const subs = rt.paramPtr;
  const at = subs >> 2;
  rt.i32.fill(0, at, at + 4 * bins);
  const scale = Math.fround(bins / (hi - lo));
  const xp = rt.ptrOf(x);
  if (xp >= 0) {
    rt.ex.histogram(xp, n, lo, scale, bins, subs);
  } else {
    for (let off = 0; off < n; off += CHUNK) {
      const len = Math.min(CHUNK, n - off);
      rt.f32.set(x.subarray(off, off + len), rt.inPtr >> 2);
      rt.ex.histogram(rt.inPtr, len, lo, scale, bins, subs);
    }
  }
  const c = rt.i32;
  for (let b = 0; b < bins; b++) {
    const k = at + b;
    counts[b] += (c[k] >>> 0) + (c[k + bins] >>> 0) + (c[k + 2 * bins] >>> 0) + (c[k + 3 * bins] >>> 0);
  }
}

/**
 * Copies x into `into`, an array of the same length living in the shared WebAssembly memory,
 * `chunk` elements at a time, folding each chunk into min/max (Kernels.minMax semantics, start 0)
 * right after its copy, while it is still in cache: the range costs little beyond the copy. One
 * kernel call's setup for the whole array: the parameters are staged (and, with varyInner,
 * converted to order keys and back) once, not once per chunk, which for 512 chunks of a
 * per-channel tensor of 4096 columns would convert 4 Mi keys.
 */
export function copyWithMinMax(x: Float32Array, into: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array, finiteOnly: boolean, chunk: number): void {
  const n = x.length;
  if (into.length !== n) throw new QuantError('SHAPE_MISMATCH', `copyWithMinMax: destination has ${into.length} elements, expected ${n}`);
  if (n === 0) return;
  const rt = getSharedRuntime();
  if (!rt || !isWasmArray(into) || layout.size > MAX_ELEMENTS) {
    into.set(x);
    wasmKernels.minMax(into, layout, min, max, 0, finiteOnly);
    return;
  }
  checkChunk(layout, 0, n, n, 'copyWithMinMax');
  rt.stageParams(layout, 0, n, min, max, 0, 0, false);
  const { paramLo: lo, paramCount: count, aPtr, bPtr } = rt;
  if (layout.varyInner) rt.ex.minMaxKeysIn(count);
  const base = into.byteOffset;
  const step = Math.max(64, Math.floor(chunk / 64) * 64);
  for (let off = 0; off < n; off += step) {
    const end = Math.min(n, off + step);
    into.set(x.subarray(off, end), off);
    rt.ex.minMax(base + off * 4, end - off, off, finiteOnly ? 1 : 0);
  }
  if (layout.varyInner) rt.ex.minMaxKeysOut(count);
  const f32 = rt.f32;
  if (count === 1) {
    min[lo] = f32[aPtr >> 2];
    max[lo] = f32[bPtr >> 2];
  } else {
    min.set(f32.subarray(aPtr >> 2, (aPtr >> 2) + count), lo);
    max.set(f32.subarray(bPtr >> 2, (bPtr >> 2) + count), lo);
  }
}

type Run = (src: number, dst: number, len: number, off: number) => void;
type View = Int8Array | Uint8Array | Int16Array | Uint16Array | Float32Array;

/** stream() for a float32 input with one output element per input element. */
function streamFloats(rt: Runtime, x: Float32Array, out: View, outStage: View, run: Run): void {
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
function stream(rt: Runtime, input: View, inStage: View, inPer: number, n: number, out: View, outStage: View, outPer: number, run: Run): void {
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

function checkBits(bits: number): void {
  if (bits !== 2 && bits !== 4) throw new QuantError('INVALID_ARGUMENT', `pack/unpack support 2 or 4 bits, got ${bits}`);
}
