// TQ1_0 and TQ2_0, the ternary types of BitNet b1.58 and TriLMs: 256 values in {−d, 0, d} with a
// float16 d = amax. TQ1_0 packs five trits per byte (qs[48]) and four more per byte (qh[4]) as
// fixed-point fractions of 3^5; TQ2_0 stores two bits per value (qs[64]). Byte layouts:
// qs[48] qh[4] d and qs[64] d. quantize_row_tq{1,2}_0_ref; ggml_quantize_chunk ignores an
// importance matrix for these types.
import { readFp16, roundf, truncToInt32, writeFp16 } from './ggml-float.js';

const f = Math.fround;

/** lroundf(v) + 1 as int: half away from zero; a non-finite v (an infinite 1/d) gives glibc's LONG_MIN, whose low 32 bits are 0. */
function trit(v: number): number {
  return (Number.isFinite(v) ? truncToInt32(roundf(v)) : 0) + 1;
}

function amaxScale(x: Float32Array, xo: number, out: Uint8Array, dAt: number): number {
  let amax = 0;
  for (let j = 0; j < 256; j++) {
    const a = Math.abs(x[xo + j]);
    amax = amax > a ? amax : a;
  }
  writeFp16(out, dAt, amax);
  return amax !== 0 ? f(1 / amax) : 0;
}

export function quantizeTq1_0(x: Float32Array, out: Uint8Array): void {
  for (let xs = 0, o = 0; xs < x.length; xs += 256, o += 54) {
    const id = amaxScale(x, xs, out, o + 52);
    let xo = xs;
    for (const [start, end, stride] of [[0, 32, 32], [32, 48, 16]] as const) {
      for (let m = 0; m < end - start; m++) {
        let q = 0;
        for (let n = 0; n < 5; n++) q = (q * 3 + trit(f(x[xo + m + n * stride] * id))) & 0xff;
        out[o + start + m] = Math.floor((q * 256 + 242) / 243) & 0xff;
      }
      xo += 5 * stride;
    }
    for (let j = 0; j < 4; j++) {
      let q = 0;
      for (let m = 0; m < 4; m++) q = (q * 3 + trit(f(x[xo + j + m * 4] * id))) & 0xff;
      q = (q * 3) & 0xff;
      out[o + 48 + j] = Math.floor((q * 256 + 242) / 243) & 0xff;
    }
  }
}

export function quantizeTq2_0(x: Float32Array, out: Uint8Array): void {
  for (let xs = 0, o = 0; xs < x.length; xs += 256, o += 66) {
    const id = amaxScale(x, xs, out, o + 64);
    for (let j = 0; j < 64; j += 32) {
      const xo = xs + j * 4;
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let n = 0; n < 4; n++) q += (trit(f(x[xo + m + n * 32] * id)) & 3) << (2 * n);
        out[o + j + m] = q & 0xff;
      }
    }
  }
}

const POW3 = [1, 3, 9, 27, 81, 243];

/** The trit stored at power `n` of a fixed-point byte, minus one. */
function untrit(byte: number, n: number): number {
  return (((byte * POW3[n]) & 0xff) * 3 >> 8) - 1;
}

export function dequantizeTq1_0(b: Uint8Array, y: Float32Array): void {
  for (let i = 0, o = 0; o < y.length; i += 54) {
    const d = readFp16(b, i + 52);
    for (const [start, end] of [[0, 32], [32, 48]] as const) {
      for (let n = 0; n < 5; n++) for (let m = start; m < end; m++) y[o++] = untrit(b[i + m], n) * d;
    }
    for (let n = 0; n < 4; n++) for (let j = 0; j < 4; j++) y[o++] = untrit(b[i + 48 + j], n) * d;
  }
}

export function dequantizeTq2_0(b: Uint8Array, y: Float32Array): void {
  for (let i = 0, o = 0; o < y.length; i += 66) {
    const d = readFp16(b, i + 64);
    for (let j = 0; j < 64; j += 32) {
      for (let l = 0; l < 4; l++) for (let m = 0; m < 32; m++) y[o++] = (((b[i + j + m] >> (2 * l)) & 3) - 1) * d;
    }
  }
}
