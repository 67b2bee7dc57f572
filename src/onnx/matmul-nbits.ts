import type { TensorProto } from 'onnx-buf';
import { getKernels } from '../core/kernels/index.js';
import { computeQParams, quantize } from '../core/quantize.js';
import { makeTensor } from '../formats/onnx/tensor.js';

export interface MatMulNBitsWeight {
  /** uint8 [N, nBlocks, blockSize / 2]: row n holds column n of the K×N weight, two codes a byte, first in the low nibble. */
  readonly b: TensorProto;
  /** float32 [N · nBlocks], row-major over (n, block). */
  readonly scales: TensorProto;
  /** uint8 [N · ceil(nBlocks / 2)], two per byte per row; undefined when every zero point is 8 (MatMulNBits' default). */
  readonly zeroPoints: TensorProto | undefined;
  readonly attributes: { K: number; N: number; bits: 4; block_size: number };
}

/**
 * Quantizes a float32 MatMul weight W [K, N] for com.microsoft MatMulNBits (4 bits): each column
 * of W is cut into blocks of blockSize along K; a block gets its own scale and zero point and
 * MatMulNBits computes with w ≈ scale · (q − zeroPoint), q unsigned 0..15. int4 codes are shifted
 * by 8 to unsigned (q + 8 with zero point zp + 8), which dequantizes to the same values. The last
 * block of a column is padded with its zero point (dequantizing to 0) when blockSize does not
 * divide K.
 */
export function quantizeForMatMulNBits(
  names: { b: string; scales: string; zeroPoints: string },
  w: Float32Array,
  k: number,
  n: number,
  dtype: 'int4' | 'uint4',
  symmetric: boolean,
  blockSize: number,
): MatMulNBitsWeight {
  // Blocks run along K inside one column: quantize Wᵀ [N, K] so each row is a column of W.
  const wt = new Float32Array(k * n);
  for (let r = 0; r < k; r++) {
    const row = r * n;
    for (let c = 0; c < n; c++) wt[c * k + r] = w[row + c];
  }
  const granularity = { kind: 'per-block', axis: 1, blockSize } as const;
  const params = computeQParams(wt, [n, k], { dtype, symmetric, narrow: symmetric && dtype === 'int4', granularity });
  const { codes } = quantize(wt, [n, k], { params, validate: false });
  const shift = dtype === 'int4' ? 8 : 0;
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
  const kernels = getKernels();
  const packedB = new Uint8Array((n * padded) / 2);
  kernels.pack(unsignedCodes, 4, packedB);
  const b = makeTensor(names.b, 'uint8', [n, nBlocks, blockSize / 2], packedB);
  const scales = makeTensor(names.scales, 'float32', [n * nBlocks], params.scale);
  let zeroPoints: TensorProto | undefined;
  if (zp.some((z) => z !== 8)) {
    const rowBytes = Math.ceil(nBlocks / 2);
    const packedZp = new Uint8Array(n * rowBytes);
    for (let c = 0; c < n; c++) kernels.pack(zp.subarray(c * nBlocks, (c + 1) * nBlocks), 4, packedZp.subarray(c * rowBytes, (c + 1) * rowBytes));
    zeroPoints = makeTensor(names.zeroPoints, 'uint8', [n * rowBytes], packedZp);
  }
  return { b, scales, zeroPoints, attributes: { K: k, N: n, bits: 4, block_size: blockSize } };
}
