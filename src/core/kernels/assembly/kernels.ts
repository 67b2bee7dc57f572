// The WebAssembly SIMD kernels behind src/core/kernels/wasm.ts. JS stages a chunk of the caller's
// data in linear memory (above heapBase()), sets the layout and parameters once per call, and calls
// one export per chunk. `start` is the global index of the chunk's first element, so a chunk may
// begin anywhere: mid-row, mid-block.
import { dequantizeRun, fakeQuantizeRun, quantizeRun } from './lib/affine';
import { minMaxSplatRun, minMaxVaryRun } from './lib/min-max';
import { axisLen, blockSize, inner, paramLo, paramOuterStride, varyInner } from './lib/state';

export { setLayout, setParams } from './lib/state';
export { pack2, pack4, unpack2, unpack4 } from './lib/pack';

const QUANTIZE = 0;
const DEQUANTIZE = 1;
const FAKE_QUANTIZE = 2;
const MIN_MAX = 3;

/** First free byte of linear memory (64-byte aligned): JS stages data from here on. */
export function heapBase(): usize {
  return (__heap_base + 63) & ~63;
}

// @ts-ignore: decorator
@inline function run<T>(op: i32, src: usize, dst: usize, j: u32, len: u32, p: u32, vary: bool, finiteOnly: bool): void {
  if (op == QUANTIZE) quantizeRun<T>(src + (<usize>j << 2), dst + <usize>j * sizeof<T>(), len, p, vary);
  else if (op == DEQUANTIZE) dequantizeRun<T>(src + <usize>j * sizeof<T>(), dst + (<usize>j << 2), len, p, vary);
  else if (op == FAKE_QUANTIZE) fakeQuantizeRun(src + (<usize>j << 2), dst + (<usize>j << 2), len, p, vary);
  else if (vary) minMaxVaryRun(src + (<usize>j << 2), len, p, finiteOnly);
  else minMaxSplatRun(src + (<usize>j << 2), len, p, finiteOnly);
}

/**
 * Splits elements [start, start + n) into runs over which the parameter is constant (everything up
 * to the end of the current block: a whole tensor, a channel, a block of rows) or, with varyInner,
 * into row segments whose parameters are contiguous, and runs `op` on each.
 */
// @ts-ignore: decorator
@inline function walk<T>(op: i32, src: usize, dst: usize, n: u32, start: u32, finiteOnly: bool): void {
  const end = start + n;
  let g = start;
  let j: u32 = 0;
  while (g < end) {
    const r = g / inner;
    const i = g - r * inner;
    const o = r / axisLen;
    const a = r - o * axisLen;
    const b = a / blockSize;
    let len: u32;
    if (varyInner) {
      len = min((r + 1) * inner, end) - g;
      run<T>(op, src, dst, j, len, o * paramOuterStride + b * inner + i - paramLo, true, finiteOnly);
    } else {
      const blockEnd = (o * axisLen + min((b + 1) * blockSize, axisLen)) * inner;
      len = min(blockEnd, end) - g;
      run<T>(op, src, dst, j, len, o * paramOuterStride + b - paramLo, false, finiteOnly);
    }
    g += len;
    j += len;
  }
}

export function quantizeI8(x: usize, q: usize, n: u32, start: u32): void { walk<i8>(QUANTIZE, x, q, n, start, false); }
export function quantizeU8(x: usize, q: usize, n: u32, start: u32): void { walk<u8>(QUANTIZE, x, q, n, start, false); }
export function quantizeI16(x: usize, q: usize, n: u32, start: u32): void { walk<i16>(QUANTIZE, x, q, n, start, false); }
export function quantizeU16(x: usize, q: usize, n: u32, start: u32): void { walk<u16>(QUANTIZE, x, q, n, start, false); }

export function dequantizeI8(q: usize, out: usize, n: u32, start: u32): void { walk<i8>(DEQUANTIZE, q, out, n, start, false); }
export function dequantizeU8(q: usize, out: usize, n: u32, start: u32): void { walk<u8>(DEQUANTIZE, q, out, n, start, false); }
export function dequantizeI16(q: usize, out: usize, n: u32, start: u32): void { walk<i16>(DEQUANTIZE, q, out, n, start, false); }
export function dequantizeU16(q: usize, out: usize, n: u32, start: u32): void { walk<u16>(DEQUANTIZE, q, out, n, start, false); }

export function fakeQuantize(x: usize, out: usize, n: u32, start: u32): void { walk<f32>(FAKE_QUANTIZE, x, out, n, start, false); }

export function minMax(x: usize, n: u32, start: u32, finiteOnly: bool): void {
  // Two instantiations so the per-element Inf test is compiled out of the common case.
  if (finiteOnly) walk<f32>(MIN_MAX, x, 0, n, start, true);
  else walk<f32>(MIN_MAX, x, 0, n, start, false);
}
