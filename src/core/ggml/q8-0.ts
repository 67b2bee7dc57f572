// Q8_0: 32 values as a float16 scale d = amax/127 and int8 levels roundf(x/d); x ≈ d·q.
// quantize_row_q8_0_ref; ggml_quantize_chunk ignores an importance matrix for this type.
import { readFp16, roundf, truncToInt32, writeFp16 } from './ggml-float.js';

const f = Math.fround;

export function quantizeQ8_0(x: Float32Array, out: Uint8Array): void {
  for (let xo = 0, o = 0; xo < x.length; xo += 32, o += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(x[xo + j]);
      amax = amax > a ? amax : a;
    }
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    writeFp16(out, o, d);
    for (let j = 0; j < 32; j++) out[o + 2 + j] = truncToInt32(roundf(f(x[xo + j] * id))) & 0xff;
  }
}

export function dequantizeQ8_0(b: Uint8Array, y: Float32Array): void {
  for (let i = 0, o = 0; o < y.length; i += 34, o += 32) {
    const d = readFp16(b, i);
    for (let j = 0; j < 32; j++) y[o + j] = ((b[i + 2 + j] << 24) >> 24) * d;
  }
}
