// Q5_0 (32 values: float16 d, 4 bytes of fifth bits qh, 16 bytes of low nibbles; x ≈ d·(q − 16))
// and Q5_1 (adds a float16 min m; x ≈ d·q + m): quantize_row_q5_{0,1}_ref without an importance
// matrix, quantize_row_q5_{0,1}_impl with one.
import { makeQkxQuantsWasm, makeQxQuantsWasm } from './k-quant-search-wasm.js';
import { readFp16, truncToInt32, writeFp16 } from './ggml-float.js';
import { forEachWeightedBlock, largestMagnitude } from './block-scan.js';

const f = Math.fround;

/** Packs 32 five-bit levels: low nibbles in qs, fifth bits as one little-endian uint32 qh. */
function pack5(L: ArrayLike<number>, out: Uint8Array, qhAt: number): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const a = L[j] & 0xff;
    const b = L[j + 16] & 0xff;
    out[qhAt + 4 + j] = (a & 0x0f) | ((b & 0x0f) << 4);
    qh |= ((a & 0x10) >> 4) << j;
    qh |= ((b & 0x10) >> 4) << (j + 16);
  }
  out[qhAt] = qh & 0xff;
  out[qhAt + 1] = (qh >>> 8) & 0xff;
  out[qhAt + 2] = (qh >>> 16) & 0xff;
  out[qhAt + 3] = (qh >>> 24) & 0xff;
}

export function quantizeQ5_0(x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array): void {
  const L = new Int8Array(32);
  if (imatrix) {
    const weight = new Float32Array(32);
    forEachWeightedBlock(x, rowLength, imatrix, weight, (xo, block) => {
      const o = block * 22;
      writeFp16(out, o, makeQxQuantsWasm(32, 16, x, xo, L, 0, weight, 0));
      pack5(L, out, o + 2);
    });
    return;
  }
  const Lu = new Uint8Array(32);
  for (let xo = 0, o = 0; xo < x.length; xo += 32, o += 22) {
    const d = f(largestMagnitude(x, xo, 32) / -16);
    const id = d !== 0 ? f(1 / d) : 0;
    writeFp16(out, o, d);
    for (let j = 0; j < 32; j++) {
      // (int8_t)(x·id + 16.5f), then MIN(31, ·) into a uint8_t.
      const q = (truncToInt32(f(f(x[xo + j] * id) + 16.5)) << 24) >> 24;
      Lu[j] = q < 31 ? q : 31;
    }
    pack5(Lu, out, o + 2);
  }
}

export function quantizeQ5_1(x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array): void {
  const L = new Uint8Array(32);
  if (imatrix) {
    const weight = new Float32Array(32);
    const Laux = new Uint8Array(32);
    const min = new Float32Array(1);
    forEachWeightedBlock(x, rowLength, imatrix, weight, (xo, block) => {
      const o = block * 24;
      writeFp16(out, o, makeQkxQuantsWasm(32, 31, x, xo, weight, L, 0, min, 0, Laux, f(-0.9), f(0.05), 36, false));
      writeFp16(out, o + 2, -min[0]);
      pack5(L, out, o + 4);
    });
    return;
  }
  for (let xo = 0, o = 0; xo < x.length; xo += 32, o += 24) {
    let min = 3.4028234663852886e38;
    let max = -3.4028234663852886e38;
    for (let j = 0; j < 32; j++) {
      const v = x[xo + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = f(f(max - min) / 31);
    const id = d !== 0 ? f(1 / d) : 0;
    writeFp16(out, o, d);
    writeFp16(out, o + 2, min);
    // (uint8_t)(x' + 0.5f): no clamp in the reference.
    for (let j = 0; j < 32; j++) L[j] = truncToInt32(f(f(f(x[xo + j] - min) * id) + 0.5));
    pack5(L, out, o + 4);
  }
}

function qhBits(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
}

export function dequantizeQ5_0(b: Uint8Array, y: Float32Array): void {
  for (let i = 0, o = 0; o < y.length; i += 22, o += 32) {
    const d = readFp16(b, i);
    const qh = qhBits(b, i + 2);
    for (let j = 0; j < 16; j++) {
      const q = b[i + 6 + j];
      y[o + j] = (((q & 0x0f) | (((qh >>> j) << 4) & 0x10)) - 16) * d;
      y[o + 16 + j] = (((q >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16) * d;
    }
  }
}

export function dequantizeQ5_1(b: Uint8Array, y: Float32Array): void {
  for (let i = 0, o = 0; o < y.length; i += 24, o += 32) {
    const d = readFp16(b, i);
    const m = readFp16(b, i + 2);
    const qh = qhBits(b, i + 4);
    for (let j = 0; j < 16; j++) {
      const q = b[i + 8 + j];
      y[o + j] = f(((q & 0x0f) | (((qh >>> j) << 4) & 0x10)) * d) + m;
      y[o + 16 + j] = f(((q >> 4) | ((qh >>> (j + 12)) & 0x10)) * d) + m;
    }
  }
}
