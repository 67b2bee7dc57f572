import type { TensorProto } from 'onnx-buf';
import { getKernels } from '../../../core/kernels/index.js';
import { computeQParams, quantize } from '../../../core/quantize.js';
import { makeTensor } from '../../../formats/onnx/tensor.js';
import { float32ToFloat16Bits } from '../../../core/float16.js';
import type { BlockedWeight } from './blocked-weight.js';

export interface MatMulNBitsWeight {
  /** uint8 [N, nBlocks, blockSize · bits / 8]: row n holds column n of the K×N weight; 4-bit codes two a byte, first in the low nibble. */
  readonly b: TensorProto;
  /** float32 [N · nBlocks], row-major over (n, block). */
  readonly scales: TensorProto;
  /** uint8 zero points, row-major over (n, block), 4-bit ones two a byte per row; undefined when every zero point is 2^(bits-1) (MatMulNBits' default). */
  readonly zeroPoints: TensorProto | undefined;
  /** accuracy_level 4 for 8 bits: onnxruntime's CPU kernel for 8-bit weights runs only with int8 activations (quantized per block); otherwise it dequantizes the whole weight on every run. */
  readonly attributes: { K: number; N: number; bits: 2 | 4 | 8; block_size: number; accuracy_level?: number };
}

/**
 * Quantizes a float32 MatMul weight W [K, N] for com.microsoft MatMulNBits (4 or 8 bits): each
 * column of W is cut into blocks of blockSize along K; a block gets its own scale and zero point
 * and MatMulNBits computes with w ≈ scale · (q − zeroPoint), q unsigned (0..15 or 0..255). Signed
 * codes are shifted by 2^(bits-1) to unsigned (q + 8 or q + 128, with the zero point shifted
 * alike), which dequantizes to the same values. The last block of a column is padded with its
 * zero point (dequantizing to 0) when blockSize does not divide K.
 */
export function quantizeForMatMulNBits(
  names: { b: string; scales: string; zeroPoints: string },
  w: Float32Array,
  k: number,
  n: number,
  dtype: 'int4' | 'uint4' | 'int8' | 'uint8',
  symmetric: boolean,
  blockSize: number,
): MatMulNBitsWeight {
  const bits = dtype === 'int8' || dtype === 'uint8' ? 8 : 4;
  // Blocks run along K inside one column: quantize Wᵀ [N, K] so each row is a column of W.
  const wt = new Float32Array(k * n);
  for (let r = 0; r < k; r++) {
    const row = r * n;
    for (let c = 0; c < n; c++) wt[c * k + r] = w[row + c];
  }
  const granularity = { kind: 'per-block', axis: 1, blockSize } as const;
  const params = computeQParams(wt, [n, k], { dtype, symmetric, narrow: symmetric && dtype.startsWith('int'), granularity });
  const { codes } = quantize(wt, [n, k], { params, validate: false });
  const mid = 1 << (bits - 1);
  const shift = dtype.startsWith('int') ? mid : 0;
  const nBlocks = Math.ceil(k / blockSize);
  const padded = nBlocks * blockSize;
  const unsignedCodes = new Uint8Array(n * padded);
  const zp = new Uint8Array(n * nBlocks);
  for (let c = 0; c < n; c++) {
    for (let b = 0; b < nBlocks; b++) zp[c * nBlocks + b] = params.zeroPoint[c * nBlocks + b] + shift;
    const src = c * k;
    const dst = c * padded;
    for (let i = 0; i < k; i++) unsignedCodes[dst + i] = codes[src + i] + shift;
    unsignedCodes.fill(zp[c * nBlocks + nBlocks - 1], dst + k, dst + padded);
  }
  const scales = makeTensor(names.scales, 'float32', [n * nBlocks], params.scale);
  const defaultZp = zp.every((z) => z === mid);
  if (bits === 8) {
    const b = makeTensor(names.b, 'uint8', [n, nBlocks, blockSize], unsignedCodes);
    const zeroPoints = defaultZp ? undefined : makeTensor(names.zeroPoints, 'uint8', [n * nBlocks], zp);
    return { b, scales, zeroPoints, attributes: { K: k, N: n, bits: 8, block_size: blockSize, accuracy_level: 4 } };
  }
  const kernels = getKernels();
  const packedB = new Uint8Array((n * padded) / 2);
  kernels.pack(unsignedCodes, 4, packedB);
  const b = makeTensor(names.b, 'uint8', [n, nBlocks, blockSize / 2], packedB);
  let zeroPoints: TensorProto | undefined;
  if (!defaultZp) {
    const rowBytes = Math.ceil(nBlocks / 2);
    const packedZp = new Uint8Array(n * rowBytes);
    for (let c = 0; c < n; c++) kernels.pack(zp.subarray(c * nBlocks, (c + 1) * nBlocks), 4, packedZp.subarray(c * rowBytes, (c + 1) * rowBytes));
    zeroPoints = makeTensor(names.zeroPoints, 'uint8', [n * rowBytes], packedZp);
  }
  return { b, scales, zeroPoints, attributes: { K: k, N: n, bits: 4, block_size: blockSize } };
}

/**
 * Writes an already quantized MatMul weight W [K, N] (a BlockedWeight blocked along K: codes [K, N],
 * parameters [nBlocks, N]) as MatMulNBits inputs of `bits` (2, 4 or 8; 3-bit codes go in 4-bit
 * containers, which onnxruntime 1.30 runs; it has no 3-bit kernel). Signed codes are shifted to
 * unsigned by 2^(bits−1), zero points alike, so the dequantized values are unchanged. `scaleType`
 * is the model's float type (MatMulNBits' T1: float16 models keep float16 scales and outputs).
 */
export function packMatMulNBits(
  names: { b: string; scales: string; zeroPoints: string },
  w: BlockedWeight,
  k: number,
  n: number,
  bits: 2 | 4 | 8,
  signed: boolean,
  blockSize: number,
  scaleType: 'float32' | 'float16',
): MatMulNBitsWeight & { readonly attributes: { bits: 2 | 4 | 8 } } {
  const nBlocks = Math.ceil(k / blockSize);
  const padded = nBlocks * blockSize;
  const mid = 1 << (bits - 1);
  const shift = signed ? mid : 0;
  const unsignedCodes = new Uint8Array(n * padded);
  const zp = new Uint8Array(n * nBlocks);
  const scale = new Float32Array(n * nBlocks);
  for (let c = 0; c < n; c++) {
    for (let b = 0; b < nBlocks; b++) {
      zp[c * nBlocks + b] = w.zeroPoint[b * n + c]! + shift;
      scale[c * nBlocks + b] = w.scale[b * n + c]!;
    }
    for (let i = 0; i < k; i++) unsignedCodes[c * padded + i] = w.codes[i * n + c]! + shift;
    unsignedCodes.fill(zp[c * nBlocks + nBlocks - 1]!, c * padded + k, (c + 1) * padded);
  }
  const scales = scaleType === 'float16' ? makeTensor(names.scales, 'float16', [n * nBlocks], float32ToFloat16Bits(scale)) : makeTensor(names.scales, 'float32', [n * nBlocks], scale);
  const defaultZp = zp.every((z) => z === mid);
  const kernels = getKernels();
  const perByte = 8 / bits;
  let b: TensorProto;
  if (bits === 8) b = makeTensor(names.b, 'uint8', [n, nBlocks, blockSize], unsignedCodes);
  else {
    const packed = new Uint8Array((n * padded) / perByte);
    kernels.pack(unsignedCodes, bits, packed);
    b = makeTensor(names.b, 'uint8', [n, nBlocks, blockSize / perByte], packed);
  }
  let zeroPoints: TensorProto | undefined;
  if (!defaultZp) {
    if (bits === 8) zeroPoints = makeTensor(names.zeroPoints, 'uint8', [n * nBlocks], zp);
    else {
      const rowBytes = Math.ceil(nBlocks / perByte);
      const packedZp = new Uint8Array(n * rowBytes);
      for (let c = 0; c < n; c++) kernels.pack(zp.subarray(c * nBlocks, (c + 1) * nBlocks), bits, packedZp.subarray(c * rowBytes, (c + 1) * rowBytes));
      zeroPoints = makeTensor(names.zeroPoints, 'uint8', [n * rowBytes], packedZp);
    }
  }
  return { b, scales, zeroPoints, attributes: { K: k, N: n, bits, block_size: blockSize, ...(bits === 8 && { accuracy_level: 4 }) } };
}
