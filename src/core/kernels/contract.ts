import type { CodeArray } from '../dtypes.js';
import type { BlockLayout } from '../layout.js';

/**
 * The hot loops, one contract with two implementations: a readable TypeScript reference
 * (reference.ts, the oracle) and WebAssembly SIMD (wasm.ts). Property tests hold them equal bit
 * for bit.
 *
 * Every element-wise kernel works on a chunk: x[0] is element `start` of the tensor described by
 * `layout` (so a caller can stream a large tensor chunk by chunk, or split it across workers), and
 * output index j corresponds to input index j. Parameters are indexed by `paramIndex(layout, g)`.
 */
export interface Kernels {
  readonly name: string;
  /**
   * Folds x into running per-parameter minima and maxima (callers start them at +Inf / -Inf).
   * NaN propagates (a NaN anywhere makes that parameter's min and max NaN); with finiteOnly,
   * ±Infinity values are skipped instead of taken.
   */
  minMax(x: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array, start?: number, finiteOnly?: boolean): void;
  /** q = clamp(roundHalfEven(x / scale) + zeroPoint, qmin, qmax), the division in float32 (ONNX QuantizeLinear). NaN gives 0. */
  quantize(x: Float32Array, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number, out: CodeArray, start?: number): void;
  /** x = (q − zeroPoint) · scale in float32 (ONNX DequantizeLinear). */
  dequantize(q: CodeArray, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, out: Float32Array, start?: number): void;
  /** dequantize(quantize(x)) fused, without materialising codes. */
  fakeQuantize(x: Float32Array, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number, out: Float32Array, start?: number): void;
  /**
   * Packs codes of `bits` (4: two per byte, 2: four per byte) as ONNX stores sub-byte types: the
   * first code in the lowest bits; a short last byte is zero-padded. out.length = ceil(n·bits/8).
   */
  pack(codes: Int8Array | Uint8Array, bits: 2 | 4, out: Uint8Array): void;
  /** The inverse of pack for out.length codes; signed codes are sign-extended. */
  unpack(packed: Uint8Array, bits: 2 | 4, signed: boolean, out: Int8Array | Uint8Array): void;
}
