// Q4_0 (32 values: float16 scale d, 4-bit levels q, x ≈ d·(q − 8)) and Q4_1 (adds a float16 min m,
// x ≈ d·q + m), as ggml-quants.c writes them: quantize_row_q4_{0,1}_ref without an importance
// matrix, quantize_row_q4_{0,1}_impl (ggml_quantize_chunk's path) with one.
import { makeQkxQuantsWasm, makeQxQuantsWasm } from './k-quant-search-wasm.js';
import { readFp16, truncToInt32, writeFp16 } from './ggml-float.js';
import { forEachWeightedBlock, largestMagnitude } from './block-scan.js';

const f = Math.fround;

/** (int8_t)(v) then MIN(15, ·) then to uint8, as the C code casts a float level. */
function level(v: number, hi: number): number {
  const q = (truncToInt32(v) << 24) >> 24;
  return (q < hi ? q : hi) & 0xff;
}

export function quantizeQ4_0(x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array): void {
  const nb = x.length / 32;
  if (imatrix) {
    const weight = new Float32Array(32);
    const L = new Int8Array(32);
    forEachWeightedBlock(x, rowLength, imatrix, weight, (xo, block) => {
      const o = block * 18;
      writeFp16(out, o, makeQxQuantsWasm(32, 8, x, xo, L, 0, weight, 0));
      for (let j = 0; j < 16; j++) out[o + 2 + j] = (L[j] | (L[j + 16] << 4)) & 0xff;
    });
    return;
  }
  for (let i = 0; i < nb; i++) {
    const xo = i * 32;
    const o = i * 18;
    const d = f(largestMagnitude(x, xo, 32) / -8);
    const id = d !== 0 ? f(1 / d) : 0;
    writeFp16(out, o, d);
    for (let j = 0; j < 16; j++) {
      const x0 = f(x[xo + j] * id);
      const x1 = f(x[xo + 16 + j] * id);
      out[o + 2 + j] = (level(f(x0 + 8.5), 15) | (level(f(x1 + 8.5), 15) << 4)) & 0xff;
    }
  }
}

export function quantizeQ4_1(x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array): void {
  const nb = x.length / 32;
  if (imatrix) {
    const weight = new Float32Array(32);
    const L = new Uint8Array(32);
    const Laux = new Uint8Array(32);
    const min = new Float32Array(1);
    forEachWeightedBlock(x, rowLength, imatrix, weight, (xo, block) => {
      const o = block * 20;
      writeFp16(out, o, makeQkxQuantsWasm(32, 15, x, xo, weight, L, 0, min, 0, Laux, f(-0.9), f(0.05), 36, false));
      writeFp16(out, o + 2, -min[0]);
      for (let j = 0; j < 16; j++) out[o + 4 + j] = L[j] | (L[j + 16] << 4);
    });
    return;
  }
  for (let i = 0; i < nb; i++) {
    const xo = i * 32;
    const o = i * 20;
    let min = 3.4028234663852886e38;
    let max = -3.4028234663852886e38;
    for (let j = 0; j < 32; j++) {
      const v = x[xo + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = f(f(max - min) / 15);
    const id = d !== 0 ? f(1 / d) : 0;
    writeFp16(out, o, d);
    writeFp16(out, o + 2, min);
    for (let j = 0; j < 16; j++) {
      const x0 = f(f(x[xo + j] - min) * id);
      const x1 = f(f(x[xo + 16 + j] - min) * id);
      out[o + 4 + j] = (level(f(x0 + 0.5), 15) | (level(f(x1 + 0.5), 15) << 4)) & 0xff;
    }
  }
}

export function dequantizeQ4_0(b: Uint8Array, y: Float32Array): void {
  for (let i = 0, o = 0; o < y.length; i += 18, o += 32) {
    const d = readFp16(b, i);
    for (let j = 0; j < 16; j++) {
      const q = b[i + 2 + j];
      y[o + j] = ((q & 0x0f) - 8) * d;
      y[o + 16 + j] = ((q >> 4) - 8) * d;
    }
  }
}

export function dequantizeQ4_1(b: Uint8Array, y: Float32Array): void {
  for (let i = 0, o = 0; o < y.length; i += 20, o += 32) {
    const d = readFp16(b, i);
    const m = readFp16(b, i + 2);
    for (let j = 0; j < 16; j++) {
      const q = b[i + 4 + j];
      y[o + j] = f((q & 0x0f) * d) + m;
      y[o + 16 + j] = f((q >> 4) * d) + m;
    }
  }
}

