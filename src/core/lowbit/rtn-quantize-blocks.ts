import { codeArrayConstructor } from '../dtypes.js';
import { computeQParams, quantize } from '../quantize.js';
import type { LowBitOptions, LowBitResult } from './lowbit-scheme.js';
import { finishLowBit, resolveLowBitScheme } from './lowbit-scheme.js';

/**
 * Round-to-nearest per block, the baseline every other method is measured against and what the
 * ONNX weight writers do today: each block's range (widened to contain 0) gives its scale and zero
 * point (chooseQParams) and q = clamp(roundHalfEven(w / scale) + zeroPoint), the division in
 * float32. Bit for bit `quantize(w, [rows, cols], { dtype, symmetric, narrow: symmetric && signed,
 * granularity: { kind: 'per-block', axis: 1, blockSize } })`.
 * Example: rtnQuantizeBlocks(w, [64, 128], { bits: 4, blockSize: 32 }) gives 64·128 int4 codes and 64·4 scales.
 */
export function rtnQuantizeBlocks(w: Float32Array, shape: readonly number[], opts: LowBitOptions): LowBitResult {
  const s = resolveLowBitScheme(w, shape, opts);
  const params = computeQParams(w, [s.rows, s.cols], { dtype: s.dtype.name, symmetric: s.symmetric, narrow: s.narrow, granularity: { kind: 'per-block', axis: 1, blockSize: s.blockSize } });
  const { codes } = quantize(w, [s.rows, s.cols], { params, validate: false });
  const zeroPoints = codeArrayConstructor(s.dtype.storage).from(params.zeroPoint);
  return finishLowBit(s, codes, Float32Array.from(params.scale), zeroPoints, opts.dequantize);
}
