import type { CodeArray } from '../dtypes.js';
import { QuantError } from '../errors.js';
import type { BlockLayout } from '../layout.js';
import type { Kernels } from './contract.js';
import { kernelsWasmBytes } from './kernels-wasm.generated.js';
import { referenceKernels } from './reference.js';

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
  prepareShifted(count: number): void;
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
}

/** Code storage: index into the per-storage tables below. */
const enum Storage { I8, U8, I16, U16 }
const STORAGE_RANGE: readonly (readonly [number, number])[] = [[-128, 127], [0, 255], [-32768, 32767], [0, 65535]];

function storageOf(a: CodeArray): Storage {
  if (a instanceof Int8Array) return Storage.I8;
  if (a instanceof Uint8Array) return Storage.U8;
  if (a instanceof Int16Array) return Storage.I16;
  if (a instanceof Uint16Array) return Storage.U16;
  throw new QuantError('INVALID_ARGUMENT', `codes must be an Int8Array, Uint8Array, Int16Array or Uint16Array, got ${Object.prototype.toString.call(a)}`);
}

/** The instance and typed views over its memory, rebuilt whenever memory grows (growth detaches the old buffer). */
class Runtime {
  readonly ex: KernelExports;
  /** Staged input chunk, staged output chunk, then the parameters (A: scales or minima, B: zero points or maxima). */
  readonly inPtr: number;
  readonly outPtr: number;
  readonly paramPtr: number;
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

  constructor(ex: KernelExports) {
    this.ex = ex;
    this.inPtr = ex.heapBase();
    this.outPtr = this.inPtr + CHUNK * 4;
    this.paramPtr = this.outPtr + CHUNK * 4;
    this.ensure(this.paramPtr + 64 * 1024);
  }

  ensure(bytes: number): void {
    const mem = this.ex.memory;
    const have = mem.buffer.byteLength;
    if (have < bytes) mem.grow(Math.ceil((bytes - have) / 65536));
    if (this.f32?.buffer === mem.buffer) return;
    const b = mem.buffer;
    this.f32 = new Float32Array(b);
    this.i32 = new Int32Array(b);
    this.u8 = new Uint8Array(b);
    this.i8 = new Int8Array(b);
    this.inCodes = [new Int8Array(b, this.inPtr, CHUNK), new Uint8Array(b, this.inPtr, CHUNK), new Int16Array(b, this.inPtr, CHUNK), new Uint16Array(b, this.inPtr, CHUNK)];
    this.outCodes = [new Int8Array(b, this.outPtr, CHUNK), new Uint8Array(b, this.outPtr, CHUNK), new Int16Array(b, this.outPtr, CHUNK), new Uint16Array(b, this.outPtr, CHUNK)];
    this.outF32 = new Float32Array(b, this.outPtr, CHUNK);
  }

  /**
   * Copies the parameters elements [start, start + n) use into linear memory once per call and
   * sets the layout and [qmin, qmax]. Returns false when a zero point is outside the exact range.
   * `shifted` (quantize, fakeQuantize) also derives the per-parameter clamp bounds the
   * vector-parameter paths load.
   */
  stageParams(layout: BlockLayout, start: number, n: number, a: Float32Array, b: Float32Array | Int32Array, qmin: number, qmax: number, checkZeroPoints: boolean, shifted = false): boolean {
    const [lo, hi] = paramRange(layout, start, n);
    if (hi >= a.length || hi >= b.length) {
      throw new QuantError('INVALID_PARAMS', `the layout needs ${hi + 1} parameters for elements ${start}..${start + n - 1}, got ${Math.min(a.length, b.length)}`);
    }
    if (checkZeroPoints) {
      for (let p = lo; p <= hi; p++) if (b[p] > ZERO_POINT_LIMIT || b[p] < -ZERO_POINT_LIMIT) return false;
    }
    const count = hi - lo + 1;
    const aPtr = this.paramPtr;
    const stride = (count * 4 + 63) & ~63;
    const bPtr = aPtr + stride;
    // Scales, zero points, then room for the three derived arrays of prepareShifted.
    this.ensure(aPtr + 5 * stride);
    if (count === 1) {
      this.f32[aPtr >> 2] = a[lo];
      if (b instanceof Int32Array) this.i32[bPtr >> 2] = b[lo];
      else this.f32[bPtr >> 2] = b[lo];
    } else {
      this.f32.set(a.subarray(lo, hi + 1), aPtr >> 2);
      if (b instanceof Int32Array) this.i32.set(b.subarray(lo, hi + 1), bPtr >> 2);
      else this.f32.set(b.subarray(lo, hi + 1), bPtr >> 2);
    }
    const blockSize = Math.min(layout.blockSize, layout.axisLen);
    this.ex.setLayout(layout.inner, layout.axisLen, blockSize, layout.paramOuterStride, layout.varyInner ? 1 : 0, lo);
    this.ex.setParams(aPtr, bPtr, qmin, qmax);
    if (shifted && layout.varyInner) this.ex.prepareShifted(count);
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
let unavailable: unknown;

function getRuntime(): Runtime {
  if (runtime) return runtime;
  if (unavailable !== undefined) throw new QuantError('UNSUPPORTED', 'WebAssembly SIMD is not available in this runtime', { cause: unavailable });
  try {
    // Synchronous compile: the module is small, and this keeps the kernels usable from sync code.
    const instance = new WebAssembly.Instance(new WebAssembly.Module(kernelsWasmBytes()), {});
    runtime = new Runtime(instance.exports as unknown as KernelExports);
    return runtime;
  } catch (e) {
    unavailable = e;
    throw new QuantError('UNSUPPORTED', 'WebAssembly SIMD is not available in this runtime', { cause: e });
  }
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
    const rt = getRuntime();
    rt.stageParams(layout, start, n, min, max, 0, 0, false);
    const { paramLo: lo, paramCount: count, aPtr, bPtr } = rt;
    if (layout.varyInner) rt.ex.minMaxKeysIn(count);
    for (let off = 0; off < n; off += CHUNK) {
      const len = Math.min(CHUNK, n - off);
      rt.f32.set(x.subarray(off, off + len), rt.inPtr >> 2);
      rt.ex.minMax(rt.inPtr, len, start + off, finiteOnly ? 1 : 0);
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
    const rt = layout.size <= MAX_ELEMENTS && exactRange(qmin, qmax, lo, hi) ? getRuntime() : undefined;
    if (!rt || !rt.stageParams(layout, start, n, scale, zeroPoint, qmin, qmax, true, true)) {
      return referenceKernels.quantize(x, layout, scale, zeroPoint, qmin, qmax, out, start);
    }
    const ex = rt.ex;
    const fn = kind === Storage.I8 ? ex.quantizeI8 : kind === Storage.U8 ? ex.quantizeU8 : kind === Storage.I16 ? ex.quantizeI16 : ex.quantizeU16;
    const stage = rt.outCodes[kind];
    for (let off = 0; off < n; off += CHUNK) {
      const len = Math.min(CHUNK, n - off);
      rt.f32.set(x.subarray(off, off + len), rt.inPtr >> 2);
      fn(rt.inPtr, rt.outPtr, len, start + off);
      out.set(len === CHUNK ? stage : stage.subarray(0, len), off);
    }
  },

  dequantize(q, layout, scale, zeroPoint, out, start = 0) {
    const n = q.length;
    if (n === 0) return;
    checkChunk(layout, start, n, out.length, 'dequantize');
    const kind = storageOf(q);
    const rt = layout.size <= MAX_ELEMENTS ? getRuntime() : undefined;
    if (!rt || !rt.stageParams(layout, start, n, scale, zeroPoint, 0, 0, true)) {
      return referenceKernels.dequantize(q, layout, scale, zeroPoint, out, start);
    }
    const ex = rt.ex;
    const fn = kind === Storage.I8 ? ex.dequantizeI8 : kind === Storage.U8 ? ex.dequantizeU8 : kind === Storage.I16 ? ex.dequantizeI16 : ex.dequantizeU16;
    const view = rt.inCodes[kind];
    for (let off = 0; off < n; off += CHUNK) {
      const len = Math.min(CHUNK, n - off);
      view.set(q.subarray(off, off + len) as Int8Array);
      fn(rt.inPtr, rt.outPtr, len, start + off);
      out.set(len === CHUNK ? rt.outF32 : rt.outF32.subarray(0, len), off);
    }
  },

  fakeQuantize(x, layout, scale, zeroPoint, qmin, qmax, out, start = 0) {
    const n = x.length;
    if (n === 0) return;
    checkChunk(layout, start, n, out.length, 'fakeQuantize');
    const rt = layout.size <= MAX_ELEMENTS && exactRange(qmin, qmax, -FAKE_RANGE_LIMIT, FAKE_RANGE_LIMIT) ? getRuntime() : undefined;
    if (!rt || !rt.stageParams(layout, start, n, scale, zeroPoint, qmin, qmax, true, true)) {
      return referenceKernels.fakeQuantize(x, layout, scale, zeroPoint, qmin, qmax, out, start);
    }
    for (let off = 0; off < n; off += CHUNK) {
      const len = Math.min(CHUNK, n - off);
      rt.f32.set(x.subarray(off, off + len), rt.inPtr >> 2);
      rt.ex.fakeQuantize(rt.inPtr, rt.outPtr, len, start + off);
      out.set(len === CHUNK ? rt.outF32 : rt.outF32.subarray(0, len), off);
    }
  },

  pack(codes, bits, out) {
    checkBits(bits);
    const perByte = 8 / bits;
    // As the reference: bytes past out's end are dropped, bytes past the codes are zero.
    const bytes = Math.min(Math.ceil(codes.length / perByte), out.length);
    const n = Math.min(codes.length, bytes * perByte);
    const rt = getRuntime();
    const src = codes instanceof Int8Array ? rt.i8 : rt.u8;
    const fn = bits === 4 ? rt.ex.pack4 : rt.ex.pack2;
    const stage = rt.outCodes[Storage.U8];
    for (let off = 0; off < n; off += CHUNK) {
      const len = Math.min(CHUNK, n - off);
      src.set(codes.subarray(off, off + len), rt.inPtr);
      fn(rt.inPtr, rt.outPtr, len);
      const lenBytes = Math.ceil(len / perByte);
      out.set(stage.subarray(0, lenBytes), off / perByte);
    }
    out.fill(0, bytes);
  },

  unpack(packed, bits, signed, out) {
    checkBits(bits);
    const perByte = 8 / bits;
    // As the reference: codes past the packed bytes read as 0.
    const n = Math.min(out.length, packed.length * perByte);
    const rt = getRuntime();
    const fn = bits === 4 ? rt.ex.unpack4 : rt.ex.unpack2;
    const stage = out instanceof Int8Array ? rt.outCodes[Storage.I8] : rt.outCodes[Storage.U8];
    for (let off = 0; off < n; off += CHUNK) {
      const len = Math.min(CHUNK, n - off);
      const from = off / perByte;
      rt.u8.set(packed.subarray(from, from + Math.ceil(len / perByte)), rt.inPtr);
      fn(rt.inPtr, rt.outPtr, len, signed ? 1 : 0);
      out.set(len === CHUNK ? stage : stage.subarray(0, len), off);
    }
    out.fill(0, n);
  },
};

function checkBits(bits: number): void {
  if (bits !== 2 && bits !== 4) throw new QuantError('INVALID_ARGUMENT', `pack/unpack support 2 or 4 bits, got ${bits}`);
}
