// Q3_K: 256 values in 16 groups of 16 with signed 6-bit group scales (12 bytes), 3-bit levels split
// into a high-bit mask (hmask[32]) and low 2 bits (qs[64]), and a float16 super-scale d;
// x ≈ d·(sc − 32)·(q − 4). Byte layout: hmask[32] qs[64] scales[12] d. quantize_row_q3_K_ref
// without an importance matrix, quantize_row_q3_K_impl with one.
import { makeQ3Quants } from './k-quant-search.js';
import { makeQxQuantsWasm } from './k-quant-search-wasm.js';
import { nearestInt, readFp16, writeFp16 } from './ggml-float.js';

const f = Math.fround;
const BLOCK = 110;

/** Packs a biased 6-bit scale `l` (0..63) of group j into the 12 scale bytes at `s`. */
function packScale(out: Uint8Array, s: number, j: number, l: number): void {
  if (j < 8) out[s + j] = l & 0xf;
  else out[s + j - 8] |= (l & 0xf) << 4;
  out[s + 8 + (j % 4)] |= (l >> 4) << (2 * (j >> 2));
}

/** The signed scale of group j, as the C code reads it back (int8 arithmetic). */
function groupScale(b: Uint8Array, s: number, j: number): number {
  const lo = j < 8 ? b[s + j] & 0xf : b[s + j - 8] >> 4;
  return (lo | (((b[s + 8 + (j % 4)] >> (2 * (j >> 2))) & 3) << 4)) - 32;
}

/** Requantizes with the stored scales and writes hmask and qs. */
function finish(x: Float32Array, xo: number, out: Uint8Array, o: number, L: Int8Array): void {
  const dAll = readFp16(out, o + 108);
  for (let j = 0; j < 16; j++) {
    const d = f(dAll * groupScale(out, o + 96, j));
    if (d === 0) continue;
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(f(x[xo + 16 * j + ii] / d));
      L[16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
    }
  }
  out.fill(0, o, o + 32);
  let m = 0;
  let hm = 1;
  for (let j = 0; j < 256; j++) {
    if (L[j] > 3) {
      out[o + m] |= hm;
      L[j] -= 4;
    }
    if (++m === 32) {
      m = 0;
      hm <<= 1;
    }
  }
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) {
      out[o + 32 + j / 4 + l] = (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6)) & 0xff;
    }
  }
}


export function quantizeQ3_K(x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array): void {
  const L = new Int8Array(256);
  const scales = new Float32Array(16);
  const weight = new Float32Array(16);
  const sw = new Float32Array(16);
  const Ls = new Int8Array(16);
  for (let xo = 0, o = 0; xo < x.length; xo += 256, o += BLOCK) {
    out.fill(0, o + 96, o + 108);
    if (imatrix) {
      const qo = xo % rowLength;
      let sumx2 = 0;
      for (let j = 0; j < 256; j++) sumx2 = f(sumx2 + f(x[xo + j] * x[xo + j]));
      const sigma2 = f(f(2 * sumx2) / 256);
      for (let j = 0; j < 16; j++) {
        let sumw = 0;
        for (let l = 0; l < 16; l++) {
          const v = x[xo + 16 * j + l];
          weight[l] = f(imatrix[qo + 16 * j + l] * f(Math.sqrt(f(sigma2 + f(v * v)))));
          sumw = f(sumw + weight[l]);
        }
        sw[j] = sumw;
        scales[j] = makeQxQuantsWasm(16, 4, x, xo + 16 * j, L, 16 * j, weight, 0);
      }
      const dBlock = makeQxQuantsWasm(16, 32, scales, 0, Ls, 0, sw, 0);
      for (let j = 0; j < 16; j++) packScale(out, o + 96, j, Ls[j]);
      writeFp16(out, o + 108, dBlock);
      finish(x, xo, out, o, L);
      continue;
    }
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQ3Quants(16, 4, x, xo + 16 * j, L, 16 * j);
      const scale = Math.abs(scales[j]);
      if (scale > amax) {
        amax = scale;
        maxScale = scales[j];
      }
    }
    if (maxScale !== 0) {
      const iscale = f(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        const l8 = (nearestInt(f(iscale * scales[j])) << 24) >> 24;
        packScale(out, o + 96, j, Math.max(-32, Math.min(31, l8)) + 32);
      }
      writeFp16(out, o + 108, f(1 / iscale));
    } else {
      writeFp16(out, o + 108, 0);
    }
    finish(x, xo, out, o, L);
  }
}

export function dequantizeQ3_K(b: Uint8Array, y: Float32Array): void {
  let yo = 0;
  for (let i = 0; yo < y.length; i += BLOCK) {
    const dAll = readFp16(b, i + 108);
    let is = 0;
    let m = 1;
    for (let n = 0; n < 256; n += 128) {
      const q = i + 32 + n / 4;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 32; half += 16) {
          const dl = f(dAll * groupScale(b, i + 96, is++));
          for (let l = 0; l < 16; l++) {
            const lo = (b[q + half + l] >> shift) & 3;
            y[yo++] = dl * (lo - (b[i + half + l] & m ? 0 : 4));
          }
        }
        m <<= 1;
      }
    }
  }
}

