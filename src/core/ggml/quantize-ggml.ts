import { QuantError } from '../errors.js';
import { bf16ToFp32, fp16ToFp32, fp32BitsToFp16, fp32ToBf16 } from './ggml-float.js';
import { GGML_TYPES, ggmlByteSize, ggmlTypeInfo, type GgmlQuantType, type GgmlType } from './ggml-types.js';
import { dequantizeIq4Nl, dequantizeIq4Xs, quantizeIq4Nl, quantizeIq4Xs } from './iq4.js';
import { dequantizeMxfp4, quantizeMxfp4 } from './mxfp4.js';
import { dequantizeQ2_K, quantizeQ2_K } from './q2-k.js';
import { dequantizeQ3_K, quantizeQ3_K } from './q3-k.js';
import { dequantizeQ4_0, dequantizeQ4_1, quantizeQ4_0, quantizeQ4_1 } from './q4-legacy.js';
import { dequantizeQ4_K, dequantizeQ5_K, quantizeQ4_K, quantizeQ5_K } from './q4-k-q5-k.js';
import { dequantizeQ5_0, dequantizeQ5_1, quantizeQ5_0, quantizeQ5_1 } from './q5-legacy.js';
import { dequantizeQ6_K, quantizeQ6_K } from './q6-k.js';
import { dequantizeQ8_0, quantizeQ8_0 } from './q8-0.js';
import { dequantizeTq1_0, dequantizeTq2_0, quantizeTq1_0, quantizeTq2_0 } from './ternary.js';

/** Options of {@link quantizeGgml}. */
export interface QuantizeGgmlOptions {
  /**
   * llama.cpp importance matrix for one row: one non-negative weight per column (the mean squared
   * activation that column sees), so `x.length` must be a multiple of its length and `x` is read as
   * rows of that length. Types with an importance-weighted path (Q4_0..Q5_1, Q2_K..Q6_K, IQ4_NL,
   * IQ4_XS) use it as ggml_quantize_chunk does; the others ignore it as ggml does.
   */
  imatrix?: Float32Array;
}

type Quantizer = (x: Float32Array, out: Uint8Array, rowLength: number, imatrix?: Float32Array) => void;
type Dequantizer = (b: Uint8Array, y: Float32Array) => void;

function quantizeF16(x: Float32Array, out: Uint8Array): void {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) {
    const h = fp32BitsToFp16(bits[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
}

function quantizeBf16(x: Float32Array, out: Uint8Array): void {
  for (let i = 0; i < x.length; i++) {
    const h = fp32ToBf16(x[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
}

// Bytes are copied, not viewed: a float32 view needs 4-byte alignment the caller's bytes may lack.
function quantizeF32(x: Float32Array, out: Uint8Array): void {
  out.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
}

function dequantizeF32(b: Uint8Array, y: Float32Array): void {
  new Uint8Array(y.buffer, y.byteOffset, y.byteLength).set(b.subarray(0, y.byteLength));
}

function dequantizeF16(b: Uint8Array, y: Float32Array): void {
  for (let i = 0; i < y.length; i++) y[i] = fp16ToFp32(b[2 * i] | (b[2 * i + 1] << 8));
}

function dequantizeBf16(b: Uint8Array, y: Float32Array): void {
  for (let i = 0; i < y.length; i++) y[i] = bf16ToFp32(b[2 * i] | (b[2 * i + 1] << 8));
}

const KERNELS: { readonly [K in GgmlQuantType]: readonly [Quantizer, Dequantizer, boolean] } = {
  F32: [quantizeF32, dequantizeF32, false],
  F16: [quantizeF16, dequantizeF16, false],
  BF16: [quantizeBf16, dequantizeBf16, false],
  Q4_0: [quantizeQ4_0, dequantizeQ4_0, true],
  Q4_1: [quantizeQ4_1, dequantizeQ4_1, true],
  Q5_0: [quantizeQ5_0, dequantizeQ5_0, true],
  Q5_1: [quantizeQ5_1, dequantizeQ5_1, true],
  Q8_0: [quantizeQ8_0, dequantizeQ8_0, false],
  Q2_K: [quantizeQ2_K, dequantizeQ2_K, true],
  Q3_K: [quantizeQ3_K, dequantizeQ3_K, true],
  Q4_K: [quantizeQ4_K, dequantizeQ4_K, true],
  Q5_K: [quantizeQ5_K, dequantizeQ5_K, true],
  Q6_K: [quantizeQ6_K, dequantizeQ6_K, true],
  IQ4_NL: [quantizeIq4Nl, dequantizeIq4Nl, true],
  IQ4_XS: [quantizeIq4Xs, dequantizeIq4Xs, true],
  MXFP4: [quantizeMxfp4, dequantizeMxfp4, false],
  TQ1_0: [quantizeTq1_0, dequantizeTq1_0, false],
  TQ2_0: [quantizeTq2_0, dequantizeTq2_0, false],
};

function kernels(type: GgmlType): readonly [Quantizer, Dequantizer, boolean] {
  ggmlTypeInfo(type);
  if (!Object.hasOwn(KERNELS, type)) {
    const known = Object.keys(KERNELS).join(', ');
    throw new QuantError('UNSUPPORTED', `quantkit does not implement ggml type ${type}; it implements ${known}`);
  }
  return KERNELS[type as GgmlQuantType];
}

/** Whether {@link quantizeGgml} uses an importance matrix for `type` (ggml ignores it for the rest). */
export function ggmlUsesImatrix(type: GgmlType): boolean {
  return kernels(type)[2];
}

/**
 * Quantizes float32 values to ggml's block type `type`, byte for byte what llama.cpp's
 * ggml_quantize_chunk writes (and so llama-quantize): the `quantize_row_*_ref` reference
 * quantizers without an importance matrix, the importance-weighted `quantize_row_*_impl` paths
 * with one. `x.length` must be a whole number of blocks (`GGML_TYPES[type].blockSize`); with
 * `imatrix`, a whole number of rows of `imatrix.length` values, each a whole number of blocks.
 *
 * @example quantizeGgml(weights, 'Q4_K').length === weights.length / 256 * 144
 */
export function quantizeGgml(x: Float32Array, type: GgmlType, options: QuantizeGgmlOptions = {}): Uint8Array {
  const [quantize, , usesImatrix] = kernels(type);
  const size = ggmlByteSize(type, x.length);
  const info = GGML_TYPES[type];
  let rowLength = x.length;
  let imatrix = options.imatrix;
  if (imatrix !== undefined) {
    if (!(imatrix instanceof Float32Array)) {
      throw new QuantError('INVALID_ARGUMENT', 'imatrix must be a Float32Array');
    }
    if (imatrix.length === 0 || imatrix.length % info.blockSize !== 0 || x.length % imatrix.length !== 0) {
      throw new QuantError(
        'SHAPE_MISMATCH',
        `imatrix of ${imatrix.length} values does not fit ${x.length} values of ${type}: ` +
          `rows of imatrix.length values must tile the input and be whole blocks of ${info.blockSize}`,
      );
    }
    rowLength = imatrix.length;
    if (!usesImatrix) imatrix = undefined;
  }
  const out = new Uint8Array(size);
  if (x.length > 0) quantize(x, out, rowLength, imatrix);
  return out;
}

/**
 * Decodes `n` values of ggml type `type` from `bytes` (dequantize_row_* of ggml-quants.c, bit for
 * bit). `bytes` must hold at least `n` values' worth of blocks; `n` must be a whole number of blocks.
 */
export function dequantizeGgml(bytes: Uint8Array, type: GgmlType, n: number): Float32Array {
  const [, dequantize] = kernels(type);
  const size = ggmlByteSize(type, n);
  if (bytes.length < size) {
    throw new QuantError('SHAPE_MISMATCH', `${n} values of ${type} take ${size} bytes; got ${bytes.length}`);
  }
  const y = new Float32Array(n);
  if (n > 0) dequantize(bytes, y);
  return y;
}
