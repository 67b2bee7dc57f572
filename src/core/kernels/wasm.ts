import type { CodeArray } from '../dtypes.js';
import { CODE_ARRAY_NAMES_TEXT, CODE_STORAGE_NAMES, CODE_STORAGES, codeStorageOf } from '../dtypes.js';
import { QuantError } from '../errors.js';
import type { BlockLayout } from '../layout.js';
import type { Kernels } from './contract.js';
import { referenceKernels } from './reference.js';
import { isWasmArray } from './wasm-memory.js';
import { CHUNK, FAKE_RANGE_LIMIT, getRuntime, getSharedRuntime, runtimeFor, stream, streamFloats } from './wasm-runtime.js';

export { paramRange, setWasmScratch, wasmAvailable, wasmScratchBytes, wasmZeroCopy } from './wasm-runtime.js';

/** Code storage: index into the per-storage tables below. */
const enum Storage { I8, U8, I16, U16 }
// Storage follows CODE_STORAGE_NAMES' order (int8, uint8, int16, uint16).
const STORAGE_RANGE: readonly (readonly [number, number])[] = CODE_STORAGE_NAMES.map((k) => [CODE_STORAGES[k].min, CODE_STORAGES[k].max] as const);

function storageOf(a: CodeArray): Storage {
  const k = codeStorageOf(a);
  if (k === undefined) throw new QuantError('INVALID_ARGUMENT', `codes must be ${CODE_ARRAY_NAMES_TEXT}, got ${Object.prototype.toString.call(a)}`);
  return CODE_STORAGE_NAMES.indexOf(k) as Storage;
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
 * (src/core/observers/histogram/histogram-kernel.ts), bit for bit:
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

function checkBits(bits: number): void {
  if (bits !== 2 && bits !== 4) throw new QuantError('INVALID_ARGUMENT', `pack/unpack support 2 or 4 bits, got ${bits}`);
}
