import { chooseQParams } from '../choose-qparams.js';
import type { CodeArray, QuantDtype, QuantDtypeName } from '../dtypes.js';
import { allocCodes, getQuantDtype, quantRange } from '../dtypes.js';
import { QuantError } from '../errors.js';
import { assertFinite } from '../validate.js';
import type { QParams } from '../qparams.js';

/**
 * How a low-bit method lays codes out, shared by every method in this folder: W is row-major
 * [rows = out, cols = in]; each row is cut into blocks of `blockSize` consecutive values along the
 * input dimension (the last block of a row is shorter when blockSize does not divide cols); a block
 * has one scale and one integer zero point, w ≈ scale · (q − zeroPoint), exactly as `quantize` with
 * `{ kind: 'per-block', axis: 1, blockSize }` and as the ONNX weight writers use it.
 */
export interface LowBitOptions {
  /** Code width, 2..8. */
  readonly bits: number;
  /** Values per block along the input dimension (a positive integer). */
  readonly blockSize: number;
  /** Zero point 0 (signed codes) or mid-range (unsigned); signed symmetric codes use the narrow range, as the weight writers do. Default false. */
  readonly symmetric?: boolean;
  /** Signed codes (int{bits}, default) or unsigned (uint{bits}). */
  readonly signed?: boolean;
  /** Also return the dequantized weights (float32, as `dequantize` computes them). Default false. */
  readonly dequantize?: boolean;
}

/** Codes and block parameters of one weight matrix. */
export interface LowBitResult {
  /** [rows, cols], one code per element, in the dtype's storage (Int8Array for int2..int8, Uint8Array for uint2..uint8). */
  readonly codes: CodeArray;
  /** [rows, nBlocks] float32, nBlocks = ceil(cols / blockSize). */
  readonly scales: Float32Array;
  /** [rows, nBlocks], same storage as codes. */
  readonly zeroPoints: CodeArray;
  /** The same scales and zero points as a QParams (per-block along axis 1), for `dequantize` and the weight writers. */
  readonly params: QParams;
  /** (q − zeroPoint) · scale in float32, when asked for. */
  readonly dequantized?: Float32Array;
}

/** What every method needs to know about the grid, resolved once. */
export interface LowBitScheme {
  readonly dtype: QuantDtype;
  readonly symmetric: boolean;
  readonly narrow: boolean;
  readonly qmin: number;
  readonly qmax: number;
  readonly rows: number;
  readonly cols: number;
  readonly blockSize: number;
  readonly nBlocks: number;
}

/** Checks shape, data and options, and resolves the dtype and range. */
export function resolveLowBitScheme(w: Float32Array, shape: readonly number[], opts: LowBitOptions): LowBitScheme {
  if (shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new QuantError('SHAPE_MISMATCH', `expected a weight shape [rows, cols] of positive integers, got [${shape.join(', ')}]`);
  }
  const [rows, cols] = shape;
  if (w.length !== rows * cols) throw new QuantError('SHAPE_MISMATCH', `shape [${rows}, ${cols}] has ${rows * cols} elements but the weight has ${w.length}`);
  if (!Number.isInteger(opts.bits) || opts.bits < 2 || opts.bits > 8) throw new QuantError('INVALID_ARGUMENT', `bits must be an integer in 2..8, got ${opts.bits}`);
  if (!Number.isSafeInteger(opts.blockSize) || opts.blockSize <= 0) throw new QuantError('INVALID_BLOCK_SIZE', `block size must be a positive integer, got ${opts.blockSize}`);
  assertFinite(w, 'weight');
  const signed = opts.signed ?? true;
  const symmetric = opts.symmetric ?? false;
  const dtype = getQuantDtype(`${signed ? 'int' : 'uint'}${opts.bits}` as QuantDtypeName);
  const narrow = symmetric && signed;
  const { qmin, qmax } = quantRange(dtype, narrow);
  return { dtype, symmetric, narrow, qmin, qmax, rows, cols, blockSize: opts.blockSize, nBlocks: Math.ceil(cols / opts.blockSize) };
}

/** Scale and zero point of one block from its range, by the one formula every quantkit scheme uses (chooseQParams). */
export function blockParamsFromRange(s: LowBitScheme, min: number, max: number): { scale: number; zeroPoint: number } {
  const { scale, zeroPoint } = chooseQParams(new Float32Array([min]), new Float32Array([max]), s);
  return { scale: scale[0], zeroPoint: zeroPoint[0] };
}

/** Empty result arrays for a scheme. */
export function allocLowBit(s: LowBitScheme): { codes: CodeArray; scales: Float32Array; zeroPoints: CodeArray } {
  return { codes: allocCodes(s.dtype, s.rows * s.cols), scales: new Float32Array(s.rows * s.nBlocks), zeroPoints: allocCodes(s.dtype, s.rows * s.nBlocks) };
}

/** Wraps filled arrays as a LowBitResult (with the QParams view and, when asked, the dequantized weights). */
export function finishLowBit(s: LowBitScheme, codes: CodeArray, scales: Float32Array, zeroPoints: CodeArray, dequantizeToo: boolean | undefined): LowBitResult {
  const params: QParams = Object.freeze({
    dtype: s.dtype.name,
    symmetric: s.symmetric,
    narrow: s.narrow,
    qmin: s.qmin,
    qmax: s.qmax,
    granularity: Object.freeze({ kind: 'per-block', axis: 1, blockSize: s.blockSize }) as QParams['granularity'],
    paramShape: Object.freeze([s.rows, s.nBlocks]),
    scale: scales,
    zeroPoint: Int32Array.from(zeroPoints),
  });
  const result: LowBitResult = { codes, scales, zeroPoints, params };
  return dequantizeToo ? { ...result, dequantized: dequantizeLowBit(s, codes, scales, zeroPoints) } : result;
}

/** (q − zeroPoint) · scale in float32, as ONNX DequantizeLinear (and `dequantize`). */
export function dequantizeLowBit(s: Pick<LowBitScheme, 'rows' | 'cols' | 'blockSize' | 'nBlocks'>, codes: ArrayLike<number>, scales: Float32Array, zeroPoints: ArrayLike<number>): Float32Array {
  const out = new Float32Array(s.rows * s.cols);
  for (let r = 0; r < s.rows; r++) {
    for (let c = 0; c < s.cols; c++) {
      const p = r * s.nBlocks + Math.floor(c / s.blockSize);
      out[r * s.cols + c] = Math.fround((codes[r * s.cols + c] - zeroPoints[p]) * scales[p]);
    }
  }
  return out;
}
