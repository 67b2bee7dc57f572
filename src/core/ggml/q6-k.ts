// Q6_K: 256 values in 16 groups of 16 with int8 group scales, 6-bit levels split into low nibbles
// (ql[128]) and high 2 bits (qh[64]), and a float16 super-scale d; x ≈ d·sc·(q − 32). Byte layout:
// ql[128] qh[64] scales[16] d. quantize_row_q6_K_ref without an importance matrix (x²-weighted
// make_qx_quants), quantize_row_q6_K_impl with one (the imatrix values themselves as weights).
import { GROUP_MAX_EPS } from './k-quant-search.js';
import { makeQxQuantsWasm } from './k-quant-search-wasm.js';
import { fp32ToFp16, nearestInt, readFp16 } from './ggml-float.js';

const f = Math.fround;
const BLOCK = 210;

export function quantizeQ6_K(x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array): void {
  const L = new Int8Array(256);
  const scales = new Float32Array(16);
  for (let xo = 0, o = 0; xo < x.length; xo += 256, o += BLOCK) {
    const qo = xo % rowLength;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuantsWasm(16, 32, x, xo + 16 * ib, L, 16 * ib, imatrix ?? null, qo + 16 * ib);
      scales[ib] = scale;
      const abs = Math.abs(scale);
      if (abs > maxAbsScale) {
        maxAbsScale = abs;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      out.fill(0, o, o + BLOCK);
      continue;
    }
    const iscale = f(-128 / maxScale);
    const h = fp32ToFp16(f(1 / iscale));
    out[o + 208] = h & 0xff;
    out[o + 209] = h >>> 8;
    for (let ib = 0; ib < 16; ib++) out[o + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib])));
    const dAll = readFp16(out, o + 208);
    for (let j = 0; j < 16; j++) {
      const d = f(dAll * ((out[o + 192 + j] << 24) >> 24));
      if (d === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(f(x[xo + 16 * j + ii] / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    for (let j = 0, ql = o, qh = o + 128; j < 256; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const a = L[j + l];
        const b = L[j + l + 32];
        const c = L[j + l + 64];
        const e = L[j + l + 96];
        out[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        out[ql + l + 32] = (b & 0xf) | ((e & 0xf) << 4);
        out[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
}

export function dequantizeQ6_K(b: Uint8Array, y: Float32Array): void {
  for (let i = 0, yo = 0; yo < y.length; i += BLOCK) {
    const d = readFp16(b, i + 208);
    for (let n = 0, ql = i, qh = i + 128, sc = i + 192; n < 256; n += 128, ql += 64, qh += 32, sc += 8, yo += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = b[qh + l];
        const q1 = ((b[ql + l] & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((b[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((b[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((b[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        y[yo + l] = f(d * ((b[sc + is] << 24) >> 24)) * q1;
        y[yo + l + 32] = f(d * ((b[sc + is + 2] << 24) >> 24)) * q2;
        y[yo + l + 64] = f(d * ((b[sc + is + 4] << 24) >> 24)) * q3;
        y[yo + l + 96] = f(d * ((b[sc + is + 6] << 24) >> 24)) * q4;
      }
    }
  }
}
