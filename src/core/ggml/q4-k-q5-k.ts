// Q4_K and Q5_K: 256 values in 8 groups of 32, each with a 6-bit scale and 6-bit min packed into 12
// bytes, float16 super-scales d and dmin; x ≈ d·sc·q − dmin·m with 4-bit (Q4_K) or 5-bit (Q5_K)
// levels. Byte layouts: d dmin scales[12] qs[128] (Q4_K, 144 bytes) and
// d dmin scales[12] qh[32] qs[128] (Q5_K, 176 bytes). quantize_row_q{4,5}_K_ref without an
// importance matrix, quantize_row_q{4,5}_K_impl with one.
import { makeQpQuants } from './k-quant-search.js';
import { makeQkxQuantsWasm } from './k-quant-search-wasm.js';
import { nearestInt, readFp16, writeFp16 } from './ggml-float.js';

const f = Math.fround;

/** get_scale_min_k4: the 6-bit scale (index 0) and min (index 1) of group j. */
function scaleMin(b: Uint8Array, s: number, j: number, out: Uint8Array): void {
  if (j < 4) {
    out[0] = b[s + j] & 63;
    out[1] = b[s + j + 4] & 63;
  } else {
    out[0] = (b[s + j + 4] & 0xf) | ((b[s + j - 4] >> 6) << 4);
    out[1] = (b[s + j + 4] >> 4) | ((b[s + j] >> 6) << 4);
  }
}

function packScaleMin(b: Uint8Array, s: number, j: number, ls: number, lm: number): void {
  if (j < 4) {
    b[s + j] = ls;
    b[s + j + 4] = lm;
  } else {
    b[s + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
    b[s + j - 4] |= (ls >> 4) << 6;
    b[s + j] |= (lm >> 4) << 6;
  }
}


/**
 * Shared body of the four quantizers: `nmax` 15 or 31; fills L (levels 0..nmax) and the 16 header
 * bytes (d, dmin, scales) of the block at `o`.
 */
function quantizeKBlocks(
  x: Float32Array, out: Uint8Array, rowLength: number, imatrix: Float32Array | undefined,
  nmax: number, blockBytes: number, pack: (out: Uint8Array, o: number, L: Uint8Array) => void,
): void {
  const L = new Uint8Array(256);
  const Laux = new Uint8Array(32);
  const weights = new Float32Array(32);
  const mins = new Float32Array(8);
  const scales = new Float32Array(8);
  const sw = new Float32Array(8);
  const Ls = new Uint8Array(8);
  const Lm = new Uint8Array(8);
  const sm = new Uint8Array(2);
  for (let xo = 0, o = 0; xo < x.length; xo += 256, o += blockBytes) {
    if (imatrix) {
      const qo = xo % rowLength;
      let sumX2 = 0;
      for (let l = 0; l < 256; l++) sumX2 = f(sumX2 + f(x[xo + l] * x[xo + l]));
      const sigma2 = f(f(2 * sumX2) / 256);
      for (let j = 0; j < 8; j++) {
        let sumw = 0;
        for (let l = 0; l < 32; l++) {
          const v = x[xo + 32 * j + l];
          weights[l] = f(imatrix[qo + 32 * j + l] * f(Math.sqrt(f(sigma2 + f(v * v)))));
          sumw = f(sumw + weights[l]);
        }
        sw[j] = sumw;
        scales[j] = makeQkxQuantsWasm(32, nmax, x, xo + 32 * j, weights, L, 32 * j, mins, j, Laux, f(-0.9), f(0.05), 36, false);
      }
      const dBlock = makeQpQuants(8, 63, scales, Ls, sw);
      const mBlock = makeQpQuants(8, 63, mins, Lm, sw);
      for (let j = 0; j < 8; j++) packScaleMin(out, o + 4, j, Math.min(63, Ls[j]), Math.min(63, Lm[j]));
      writeFp16(out, o, dBlock);
      writeFp16(out, o + 2, mBlock);
    } else {
      let maxScale = 0;
      let maxMin = 0;
      for (let j = 0; j < 8; j++) {
        let sumX2 = 0;
        for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[xo + 32 * j + l] * x[xo + 32 * j + l]));
        const avX = f(Math.sqrt(f(sumX2 / 32)));
        for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[xo + 32 * j + l]));
        scales[j] =
          nmax === 15
            ? makeQkxQuantsWasm(32, 15, x, xo + 32 * j, weights, L, 32 * j, mins, j, Laux, -1, f(0.1), 20, false)
            : makeQkxQuantsWasm(32, 31, x, xo + 32 * j, weights, L, 32 * j, mins, j, Laux, f(-0.5), f(0.1), 15, false);
        if (scales[j] > maxScale) maxScale = scales[j];
        if (mins[j] > maxMin) maxMin = mins[j];
      }
      const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
      const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
      for (let j = 0; j < 8; j++) {
        const ls = Math.min(63, nearestInt(f(invScale * scales[j])) & 0xff);
        const lm = Math.min(63, nearestInt(f(invMin * mins[j])) & 0xff);
        packScaleMin(out, o + 4, j, ls, lm);
      }
      writeFp16(out, o, f(maxScale / 63));
      writeFp16(out, o + 2, f(maxMin / 63));
    }
    const d0 = readFp16(out, o);
    const m0 = readFp16(out, o + 2);
    for (let j = 0; j < 8; j++) {
      scaleMin(out, o + 4, j, sm);
      const d = f(d0 * sm[0]);
      if (d === 0) continue;
      const dm = f(m0 * sm[1]);
      for (let ii = 0; ii < 32; ii++) {
        const l = nearestInt(f(f(x[xo + 32 * j + ii] + dm) / d));
        L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
      }
    }
    pack(out, o, L);
  }
}

function packQ4(out: Uint8Array, o: number, L: Uint8Array): void {
  for (let j = 0, q = o + 16; j < 256; j += 64, q += 32) {
    for (let l = 0; l < 32; l++) out[q + l] = L[j + l] | (L[j + l + 32] << 4);
  }
}

function packQ5(out: Uint8Array, o: number, L: Uint8Array): void {
  const qh = o + 16;
  out.fill(0, qh, qh + 32);
  let m1 = 1;
  let m2 = 2;
  for (let n = 0, ql = o + 48; n < 256; n += 64, ql += 32) {
    for (let j = 0; j < 32; j++) {
      let l1 = L[n + j];
      if (l1 > 15) {
        l1 -= 16;
        out[qh + j] |= m1;
      }
      let l2 = L[n + j + 32];
      if (l2 > 15) {
        l2 -= 16;
        out[qh + j] |= m2;
      }
      out[ql + j] = l1 | (l2 << 4);
    }
    m1 <<= 2;
    m2 <<= 2;
  }
}

export function quantizeQ4_K(x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array): void {
  quantizeKBlocks(x, out, rowLength, imatrix, 15, 144, packQ4);
}

export function quantizeQ5_K(x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array): void {
  quantizeKBlocks(x, out, rowLength, imatrix, 31, 176, packQ5);
}

function dequantizeK(b: Uint8Array, y: Float32Array, blockBytes: number, fifthBit: boolean): void {
  const sm = new Uint8Array(2);
  let yo = 0;
  for (let i = 0; yo < y.length; i += blockBytes) {
    const d = readFp16(b, i);
    const min = readFp16(b, i + 2);
    let ql = i + (fifthBit ? 48 : 16);
    let u1 = 1;
    let u2 = 2;
    for (let is = 0; is < 8; is += 2) {
      scaleMin(b, i + 4, is, sm);
      const d1 = f(d * sm[0]);
      const m1 = f(min * sm[1]);
      scaleMin(b, i + 4, is + 1, sm);
      const d2 = f(d * sm[0]);
      const m2 = f(min * sm[1]);
      for (let l = 0; l < 32; l++) {
        const h = fifthBit && b[i + 16 + l] & u1 ? 16 : 0;
        y[yo++] = f(d1 * ((b[ql + l] & 0xf) + h)) - m1;
      }
      for (let l = 0; l < 32; l++) {
        const h = fifthBit && b[i + 16 + l] & u2 ? 16 : 0;
        y[yo++] = f(d2 * ((b[ql + l] >> 4) + h)) - m2;
      }
      ql += 32;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

export function dequantizeQ4_K(b: Uint8Array, y: Float32Array): void {
  dequantizeK(b, y, 144, false);
}

export function dequantizeQ5_K(b: Uint8Array, y: Float32Array): void {
  dequantizeK(b, y, 176, true);
}
