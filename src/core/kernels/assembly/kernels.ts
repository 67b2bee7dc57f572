// The WebAssembly SIMD kernels behind src/core/kernels/wasm.ts. JS stages a chunk of the caller's
// data in linear memory (above heapBase()), sets the layout and parameters once per call, and calls
// one export per chunk. `start` is the global index of the chunk's first element, so a chunk may
// begin anywhere: mid-row, mid-block.
import { dequantizeRun, fakeQuantizeRun, quantizeRowsRun, quantizeRun } from './lib/affine';
import { minMaxRowsRun, minMaxSplatRun, minMaxVaryRun } from './lib/min-max';
import { axisLen, blockSize, inner, paramLo, paramOuterStride, varyInner } from './lib/state';

export { magic, setLayout, setParams, zeroPointsWithin } from './lib/state';
export { pack2, pack4, unpack2, unpack4 } from './lib/pack';
export { minMaxKeysIn, minMaxKeysOut } from './lib/min-max';
export { histogram } from './lib/histogram';

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
 * Shortest row for which quantize and min/max take rows that share parameters together
 * (quantizeRowsRun, minMaxRowsRun).
 * Measured on 16 Mi elements: from 2048 columns (16 KiB of scales and zero points per row) one row
 * at a time loses L1 for the parameters, and grouping rows ran 1.05-1.1x a copy against 1.2-1.9x;
 * at 512 and 1024 columns grouping was slower than the plain row loop.
 */
const ROWS_MIN_INNER: u32 = 2048;

/**
 * Splits elements [start, start + n) into runs over which the parameter is constant (everything up
 * to the end of the current block: a whole tensor, a channel, a block of rows) or, with varyInner,
 * into row segments whose parameters are contiguous, and runs `op` on each. Only the chunk's first
 * element needs divisions; after it the row, block and outer indices advance incrementally, which
 * matters when runs are short (per-block along the last axis: a run per block of 32). Quantize
 * and min/max with varyInner hand whole rows that share their parameters over in one call.
 */
// @ts-ignore: decorator
@inline function walk<T>(op: i32, src: usize, dst: usize, n: u32, start: u32, finiteOnly: bool): void {
  const r0 = start / inner;
  let i = start - r0 * inner;
  let o = r0 / axisLen;
  let a = r0 - o * axisLen;
  let b = a / blockSize;
  let inBlock = a - b * blockSize;
  let j: u32 = 0;
  while (j < n) {
    let len: u32;
    if (varyInner) {
      let rows: u32 = 0;
      if ((op == QUANTIZE || op == MIN_MAX) && inner >= ROWS_MIN_INNER && i == 0) {
        // Whole rows from here that use this row's parameters: the rest of the block, or all of
        // them when the parameters never change (per channel along the last axis).
        const full = (n - j) / inner;
        rows = paramOuterStride == 0 && blockSize >= axisLen ? full : min(full, min((b + 1) * blockSize, axisLen) - a);
      }
      if (rows >= 2) {
        len = rows * inner;
        const p = o * paramOuterStride + b * inner - paramLo;
        if (op == QUANTIZE) quantizeRowsRun<T>(src + (<usize>j << 2), dst + <usize>j * sizeof<T>(), rows, inner, p);
        else minMaxRowsRun(src + (<usize>j << 2), rows, inner, p, finiteOnly);
      } else {
        rows = 1;
        len = min(inner - i, n - j);
        run<T>(op, src, dst, j, len, o * paramOuterStride + b * inner + i - paramLo, true, finiteOnly);
      }
      for (let r: u32 = 0; r < rows; r++) {
        i = 0;
        a++;
        inBlock++;
        if (inBlock == blockSize) {
          inBlock = 0;
          b++;
        }
        if (a == axisLen) {
          a = 0;
          b = 0;
          inBlock = 0;
          o++;
        }
      }
    } else {
      const blockEnd = min((b + 1) * blockSize, axisLen);
      // Elements left in this block: the rest of this row plus the whole rows after it.
      len = min((blockEnd - a) * inner - i, n - j);
      run<T>(op, src, dst, j, len, o * paramOuterStride + b - paramLo, false, finiteOnly);
      i = 0;
      a = blockEnd;
      b++;
      if (a == axisLen) {
        a = 0;
        b = 0;
        o++;
      }
    }
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
