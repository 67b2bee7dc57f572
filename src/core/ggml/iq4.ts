// IQ4_NL (32 values: float16 d and 4-bit indices into a fixed non-linear table of 16 int8 levels)
// and IQ4_XS (256 values: float16 d, 6-bit group scales for 8 groups of 32, the same table).
// Byte layouts: d qs[16] (18 bytes); d scales_h(uint16) scales_l[4] qs[128] (136 bytes).
// Both follow quantize_row_iq4_nl_impl as ggml_quantize_chunk calls it (seven trial scales each
// side), which is also what quantize_row_iq4_xs_ref does; quantize_row_iq4_nl_ref alone passes no
// trials and is not what llama-quantize writes.
import { GROUP_MAX_EPS } from './k-quant-search.js';
import { fp32ToFp16, nearestInt, readFp16 } from './ggml-float.js';
import { largestMagnitude } from './block-scan.js';

const f = Math.fround;
/** kvalues_iq4nl. */
export const IQ4_NL_VALUES = new Int8Array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);
const V = IQ4_NL_VALUES;
const NTRY = 7;

/** best_index_int8 over the 16 table values: binary search, ties to the lower index when strictly nearer. */
function bestIndex(x: number): number {
  if (x <= V[0]) return 0;
  if (x >= V[15]) return 15;
  let ml = 0;
  let mu = 15;
  while (mu - ml > 1) {
    const mav = (ml + mu) >> 1;
    if (x < V[mav]) mu = mav;
    else ml = mav;
  }
  return f(x - V[mu - 1]) < f(V[mu] - x) ? mu - 1 : mu;
}

/**
 * One super-block of `size` values (32 for IQ4_NL, 256 for IQ4_XS) from x[xo]; writes d at `o`,
 * and for IQ4_XS the scale bytes at o+2..o+7, then the nibbles at `qsAt`.
 */
function quantizeSuperBlock(
  size: number, x: Float32Array, xo: number, out: Uint8Array, o: number, qsAt: number,
  qw: Float32Array | undefined, qo: number, scales: Float32Array, weight: Float32Array, L: Uint8Array,
): void {
  let sigma2 = 0;
  for (let j = 0; j < size; j++) sigma2 = f(sigma2 + f(x[xo + j] * x[xo + j]));
  sigma2 = f(sigma2 * f(2 / size));
  out.fill(0, qsAt, qsAt + size / 2);
  let maxScale = 0;
  let amaxScale = 0;
  const nb = size / 32;
  for (let ib = 0; ib < nb; ib++) {
    const b = xo + ib * 32;
    for (let j = 0; j < 32; j++) {
      const v = x[b + j];
      weight[j] = qw ? f(qw[qo + ib * 32 + j] * f(Math.sqrt(f(sigma2 + f(v * v))))) : f(v * v);
    }
    const max = largestMagnitude(x, b, 32);
    const amax = Math.abs(max);
    if (amax < GROUP_MAX_EPS) {
      scales[ib] = 0;
      continue;
    }
    let d = f(-max / V[0]);
    let id = f(1 / d);
    let sumqx = 0;
    let sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const l = bestIndex(f(id * x[b + j]));
      L[ib * 32 + j] = l;
      const q = V[l];
      const wq = f(weight[j] * q);
      sumqx = f(sumqx + f(wq * x[b + j]));
      sumq2 = f(sumq2 + f(wq * q));
    }
    d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
    let best = f(d * sumqx);
    for (let itry = -NTRY; itry <= NTRY; itry++) {
      id = f((itry + V[0]) / max);
      sumqx = 0;
      sumq2 = 0;
      for (let j = 0; j < 32; j++) {
        const q = V[bestIndex(f(id * x[b + j]))];
        const wq = f(weight[j] * q);
        sumqx = f(sumqx + f(wq * x[b + j]));
        sumq2 = f(sumq2 + f(wq * q));
      }
      if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
        d = f(sumqx / sumq2);
        best = f(d * sumqx);
      }
    }
    scales[ib] = d;
    const absD = Math.abs(d);
    if (absD > amaxScale) {
      amaxScale = absD;
      maxScale = d;
    }
  }
  if (nb > 1) {
    out[o + 2] = 0;
    out[o + 3] = 0;
    const d = f(-maxScale / 32);
    const h = fp32ToFp16(d);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    const id = d !== 0 ? f(1 / d) : 0;
    let scalesH = 0;
    for (let ib = 0; ib < nb; ib++) {
      let l = nearestInt(f(id * scales[ib]));
      l = Math.max(-32, Math.min(31, l));
      const dl = f(d * l);
      const idl = dl !== 0 ? f(1 / dl) : 0;
      for (let j = 0; j < 32; j++) L[ib * 32 + j] = bestIndex(f(idl * x[xo + ib * 32 + j]));
      l += 32;
      const lLow = l & 0xf;
      const lHigh = l >> 4;
      if (ib % 2 === 0) out[o + 4 + (ib >> 1)] = lLow;
      else out[o + 4 + (ib >> 1)] |= lLow << 4;
      scalesH |= lHigh << (2 * (ib % 8));
    }
    out[o + 2] = scalesH & 0xff;
    out[o + 3] = (scalesH >>> 8) & 0xff;
  } else {
    const h = fp32ToFp16(scales[0]);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    const id = scales[0] !== 0 ? f(1 / scales[0]) : 0;
    for (let j = 0; j < size; j++) L[j] = bestIndex(f(id * x[xo + j]));
  }
  for (let i = 0; i < size / 32; i++) {
    for (let j = 0; j < 16; j++) out[qsAt + 16 * i + j] = L[32 * i + j] | (L[32 * i + 16 + j] << 4);
  }
}

export function quantizeIq4Nl(x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array): void {
  const scales = new Float32Array(1);
  const weight = new Float32Array(32);
  const L = new Uint8Array(32);
  for (let xo = 0, o = 0; xo < x.length; xo += 32, o += 18) {
    quantizeSuperBlock(32, x, xo, out, o, o + 2, imatrix, xo % rowLength, scales, weight, L);
  }
}

export function quantizeIq4Xs(x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array): void {
  const scales = new Float32Array(8);
  const weight = new Float32Array(32);
  const L = new Uint8Array(256);
  for (let xo = 0, o = 0; xo < x.length; xo += 256, o += 136) {
    quantizeSuperBlock(256, x, xo, out, o, o + 8, imatrix, xo % rowLength, scales, weight, L);
  }
}

export function dequantizeIq4Nl(b: Uint8Array, y: Float32Array): void {
  for (let i = 0, o = 0; o < y.length; i += 18, o += 32) {
    const d = readFp16(b, i);
    for (let j = 0; j < 16; j++) {
      y[o + j] = d * V[b[i + 2 + j] & 0xf];
      y[o + 16 + j] = d * V[b[i + 2 + j] >> 4];
    }
  }
}

export function dequantizeIq4Xs(b: Uint8Array, y: Float32Array): void {
  for (let i = 0, o = 0; o < y.length; i += 136) {
    const d = readFp16(b, i);
    const scalesH = b[i + 2] | (b[i + 3] << 8);
    for (let ib = 0; ib < 8; ib++, o += 32) {
      const ls = ((b[i + 4 + (ib >> 1)] >> (4 * (ib % 2))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = f(d * (ls - 32));
      const qs = i + 8 + ib * 16;
      for (let j = 0; j < 16; j++) {
        y[o + j] = dl * V[b[qs + j] & 0xf];
        y[o + 16 + j] = dl * V[b[qs + j] >> 4];
      }
    }
  }
}
