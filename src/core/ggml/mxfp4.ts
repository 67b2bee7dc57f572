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

/** best_index_mxfp4 over the block's 16 levels `a` (V[i]·d, exact): the first of the nearest after float32 rounding. */
function bestIndex(x: number, a: Float64Array): number {
  let best = 0;
  let bestErr = Math.abs(f(a[0] - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(f(a[i] - x));
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}

export function quantizeMxfp4(x: Float32Array, out: Uint8Array): void {
  const a = new Float64Array(16);
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
    for (let i = 0; i < 16; i++) a[i] = f(V[i] * d);
    for (let j = 0; j < 16; j++) out[o + 1 + j] = bestIndex(x[xo + j], a) | (bestIndex(x[xo + 16 + j], a) << 4);
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
