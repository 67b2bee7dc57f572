// MXFP4 (OCP microscaling FP4): 32 values as one E8M0 exponent byte e and 4-bit E2M1 codes;
// x ≈ 2^(e−127) · fp4(q). quantize_row_mxfp4_ref: e = floor(log2(amax)) − 2 + 127, then each value
// takes the code whose doubled E2M1 level times 2^(e−128) is nearest (first of equals).
// ggml_quantize_chunk ignores an importance matrix for this type.
import { bitsToFloat, truncToInt32 } from './ggml-float.js';

const f = Math.fround;
/** kvalues_mxfp4: E2M1 levels doubled, so that they are integers. */
export const MXFP4_VALUES = new Int8Array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);
const V = MXFP4_VALUES;

/** GGML_E8M0_TO_FP32_HALF: 2^(e−128), with the two subnormal patterns for e < 2. */
function e8m0Half(e: number): number {
  return bitsToFloat(e < 2 ? 0x00200000 << e : (e - 1) << 23);
}

function bestIndex(x: number, e: number): number {
  let best = 0;
  let bestErr = Math.abs(f(f(V[0] * e) - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(f(f(V[i] * e) - x));
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}

export function quantizeMxfp4(x: Float32Array, out: Uint8Array): void {
  for (let xo = 0, o = 0; xo < x.length; xo += 32, o += 17) {
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(x[xo + j]);
      if (amax < a) amax = a;
    }
    // log2f rounded to float32 before the floor: just under a power of two it rounds up to it.
    const e = amax > 0 ? truncToInt32(Math.floor(f(Math.log2(amax))) - 2 + 127) & 0xff : 0;
    const d = e8m0Half(e);
    out[o] = e;
    for (let j = 0; j < 16; j++) out[o + 1 + j] = bestIndex(x[xo + j], d) | (bestIndex(x[xo + 16 + j], d) << 4);
  }
}

export function dequantizeMxfp4(b: Uint8Array, y: Float32Array): void {
  for (let i = 0, o = 0; o < y.length; i += 17, o += 32) {
    const d = e8m0Half(b[i]);
    for (let j = 0; j < 16; j++) {
      y[o + j] = V[b[i + 1 + j] & 0xf] * d;
      y[o + 16 + j] = V[b[i + 1 + j] >> 4] * d;
    }
  }
}
