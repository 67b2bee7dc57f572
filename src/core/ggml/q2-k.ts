// Q2_K: 256 values in 16 groups of 16, each with a 4-bit scale and 4-bit min (scales[16]), 2-bit
// levels (qs[64]), and float16 super-scales d and dmin; x ≈ d·sc·q − dmin·m. Byte layout:
// scales[16] qs[64] d dmin. quantize_row_q2_K_ref without an importance matrix,
// quantize_row_q2_K_impl with one.
import { makeQpQuants } from './k-quant-search.js';
import { makeQkxQuantsWasm } from './k-quant-search-wasm.js';
import { fp16ToFp32, fp32ToFp16, nearestInt, readFp16 } from './ggml-float.js';

const f = Math.fround;
const BLOCK = 84;

function writeHalf(out: Uint8Array, o: number, h: number): void {
  out[o] = h & 0xff;
  out[o + 1] = h >>> 8;
}

/** Requantizes with the stored scales (skipping groups whose scale is 0) and packs qs. */
function finish(x: Float32Array, xo: number, out: Uint8Array, o: number, L: Uint8Array, d: number, dmin: number): void {
  for (let j = 0; j < 16; j++) {
    const sc = out[o + j];
    const dj = f(d * (sc & 0xf));
    if (dj === 0) continue;
    const mj = f(dmin * (sc >> 4));
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(f(f(x[xo + 16 * j + ii] + mj) / dj));
      L[16 * j + ii] = Math.max(0, Math.min(3, l));
    }
  }
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) {
      out[o + 16 + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
    }
  }
}

export function quantizeQ2_K(x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array): void {
  const L = new Uint8Array(256);
  const Laux = new Uint8Array(16);
  const weights = new Float32Array(16);
  const mins = new Float32Array(16);
  const scales = new Float32Array(16);
  const sw = new Float32Array(16);
  const Ls = new Uint8Array(16);
  const Lm = new Uint8Array(16);
  const q4scale = 15;
  for (let xo = 0, o = 0; xo < x.length; xo += 256, o += BLOCK) {
    if (imatrix) {
      const qo = xo % rowLength;
      let sumx2 = 0;
      for (let j = 0; j < 256; j++) sumx2 = f(sumx2 + f(x[xo + j] * x[xo + j]));
      const sigma2 = f(sumx2 / 256);
      for (let j = 0; j < 16; j++) {
        let s = 0;
        for (let l = 0; l < 16; l++) {
          const v = x[xo + 16 * j + l];
          weights[l] = f(imatrix[qo + 16 * j + l] * f(Math.sqrt(f(sigma2 + f(v * v)))));
          s = f(s + weights[l]);
        }
        sw[j] = s;
        scales[j] = makeQkxQuantsWasm(16, 3, x, xo + 16 * j, weights, L, 16 * j, mins, j, Laux, f(-0.9), f(0.05), 36, false);
      }
      const dm = makeQpQuants(16, 15, scales, Ls, sw);
      const mm = makeQpQuants(16, 15, mins, Lm, sw);
      const dh = fp32ToFp16(dm);
      const mh = fp32ToFp16(mm);
      writeHalf(out, o + 80, dh);
      writeHalf(out, o + 82, mh);
      for (let j = 0; j < 16; j++) out[o + j] = Ls[j] | (Lm[j] << 4);
      finish(x, xo, out, o, L, fp16ToFp32(dh), fp16ToFp32(mh));
      continue;
    }
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[xo + 16 * j + l]);
      scales[j] = makeQkxQuantsWasm(16, 3, x, xo + 16 * j, weights, L, 16 * j, mins, j, Laux, f(-0.5), f(0.1), 15, true);
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    let dh = 0;
    if (maxScale > 0) {
      const iscale = f(q4scale / maxScale);
      for (let j = 0; j < 16; j++) out[o + j] = nearestInt(f(iscale * scales[j]));
      dh = fp32ToFp16(f(maxScale / q4scale));
    } else {
      for (let j = 0; j < 16; j++) out[o + j] = 0;
      dh = fp32ToFp16(0);
    }
    let mh = 0;
    if (maxMin > 0) {
      const iscale = f(q4scale / maxMin);
      for (let j = 0; j < 16; j++) out[o + j] |= nearestInt(f(iscale * mins[j])) << 4;
      mh = fp32ToFp16(f(maxMin / q4scale));
    } else {
      mh = fp32ToFp16(0);
    }
    writeHalf(out, o + 80, dh);
    writeHalf(out, o + 82, mh);
    finish(x, xo, out, o, L, fp16ToFp32(dh), fp16ToFp32(mh));
  }
}

export function dequantizeQ2_K(b: Uint8Array, y: Float32Array): void {
  let yo = 0;
  for (let i = 0; yo < y.length; i += BLOCK) {
    const d = readFp16(b, i + 80);
    const min = readFp16(b, i + 82);
    let is = 0;
    for (let n = 0; n < 256; n += 128) {
      const q = i + 16 + n / 4;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 32; half += 16) {
          const sc = b[i + is++];
          const dl = f(d * (sc & 0xf));
          const ml = f(min * (sc >> 4));
          for (let l = 0; l < 16; l++) y[yo++] = f(dl * ((b[q + half + l] >> shift) & 3)) - ml;
        }
      }
    }
  }
}
