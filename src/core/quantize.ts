import { chooseQParams } from './choose-qparams.js';
import type { CodeArray, QuantDtype, QuantDtypeName } from './dtypes.js';
import { codeStorageOf, getQuantDtype, outputCodeArray, quantRange } from './dtypes.js';
import { outputArray } from './output-array.js';
import { QuantError } from './errors.js';
import { getKernels, wasmKernels } from './kernels/index.js';
import { isWasmArray } from './kernels/wasm-memory.js';
import { scratchCodes, stagedFloat32, stageWithMinMax } from './kernels/wasm-scratch.js';
import { countClipped, extremesFit } from './count-clipped.js';
import type { FiniteScan } from './finite-scan.js';
import { countNonFinite, emptyRange, finiteScanOf } from './finite-scan.js';
import type { Kernels } from './kernels/contract.js';
import type { BlockLayout, Granularity } from './layout.js';
import { blockLayout, paramIndex, PER_TENSOR } from './layout.js';
import type { QParams } from './qparams.js';
import { createRng } from './random.js';
import { quantizeStochastic } from './stochastic.js';
import { checkFiniteRange } from './validate.js';

/** How to choose parameters. */
export interface SchemeOptions {
  readonly dtype: QuantDtypeName;
  /** Symmetric around 0 (zero point 0 signed, mid-range unsigned). Default false. */
  readonly symmetric?: boolean;
  /** Signed only: qmin = -(2^(b-1) - 1). Default false. */
  readonly narrow?: boolean;
  /** Default per-tensor. */
  readonly granularity?: Granularity;
  /** Let ±Infinity through: the range is taken over finite values and infinities saturate. Default false (an error). */
  readonly allowInf?: boolean;
  readonly kernels?: Kernels;
}

export interface QuantizeOptions extends Partial<Omit<SchemeOptions, 'dtype'>> {
  readonly dtype?: QuantDtypeName;
  /** Quantize with these parameters instead of computing them (dtype, granularity come from them). */
  readonly params?: QParams;
  /** 'half-even' (default, as ONNX and PyTorch) or 'stochastic' (unbiased, seeded). */
  readonly rounding?: 'half-even' | 'stochastic';
  readonly seed?: number;
  /** Output codes array to fill (reused across calls on hot paths); must match the dtype's storage. */
  readonly out?: CodeArray;
  /** Skip the NaN/Inf scan when parameters are given (the caller guarantees finite input). */
  readonly validate?: boolean;
}

/** Per-parameter min and max of x (NaN and, unless allowed, Inf are errors naming the first index). */
export function computeRange(
  x: Float32Array,
  layout: BlockLayout,
  allowInf = false,
  kernels: Kernels = getKernels(),
): { min: Float32Array; max: Float32Array } {
  if (x.length === 0) throw new QuantError('EMPTY_INPUT', 'cannot compute a range over an empty tensor');
  const min = new Float32Array(layout.paramCount).fill(Infinity);
  const max = new Float32Array(layout.paramCount).fill(-Infinity);
  kernels.minMax(x, layout, min, max, 0, allowInf);
  checkFiniteRange(x, min, max, allowInf);
  return { min, max };
}

function resolveScheme(opts: QuantizeOptions & { dtype: QuantDtypeName }) {
  const dtype = getQuantDtype(opts.dtype);
  const narrow = opts.narrow ?? false;
  return { dtype, symmetric: opts.symmetric ?? false, narrow, ...quantRange(dtype, narrow), granularity: opts.granularity ?? PER_TENSOR };
}

/** Builds QParams from per-parameter ranges (the MinMaxObserver formula of chooseQParams). */
export function qparamsFromRange(
  min: Float32Array,
  max: Float32Array,
  shape: readonly number[],
  opts: SchemeOptions,
): QParams {
  const s = resolveScheme(opts);
  const layout = blockLayout(shape, s.granularity);
  if (min.length !== layout.paramCount || max.length !== layout.paramCount) {
    throw new QuantError('SHAPE_MISMATCH', `expected ${layout.paramCount} ranges for this granularity, got ${min.length}`);
  }
  // A NaN range would give a NaN scale silently (Math.max(NaN, eps) is NaN); ranges come from callers' observers.
  for (let p = 0; p < min.length; p++) {
    if (min[p] !== min[p] || max[p] !== max[p]) {
      throw new QuantError('INVALID_ARGUMENT', `range ${p} is [${min[p]}, ${max[p]}]: expected numbers, got NaN`, { details: { index: p } });
    }
  }
  const { scale, zeroPoint } = chooseQParams(min, max, s);
  return freezeParams({ dtype: s.dtype.name, symmetric: s.symmetric, narrow: s.narrow, qmin: s.qmin, qmax: s.qmax, granularity: s.granularity, paramShape: layout.paramShape, scale, zeroPoint });
}

/** Scale and zero point for x of the given shape, as PyTorch's MinMaxObserver would choose them. */
export function computeQParams(input: Float32Array | readonly number[], shape: readonly number[], opts: SchemeOptions): QParams {
  const x = float32Input(input, 'computeQParams');
  const layout = checkedLayout(x.length, shape, opts.granularity ?? PER_TENSOR);
  const { min, max } = computeRange(x, layout, opts.allowInf, opts.kernels);
  return qparamsFromRange(min, max, shape, opts);
}

/**
 * Quantizes x (flat, C order, of `shape`) to integer codes, as ONNX QuantizeLinear:
 * q = saturate(roundHalfEven(x / scale) + zeroPoint), the division in float32.
 * Example: quantize(new Float32Array([-1, 0, 3]), [3], { dtype: 'uint8' }).codes → [0, 64, 255].
 */
export function quantize(input: Float32Array | readonly number[], shape: readonly number[], opts: QuantizeOptions): { codes: CodeArray; params: QParams } {
  const x = float32Input(input, 'quantize');
  const kernels = opts.kernels ?? getKernels();
  let params: QParams;
  let layout: BlockLayout;
  if (opts.params) {
    params = opts.params;
    layout = layoutForParams(x.length, shape, params);
    if (opts.validate !== false && x.length > 0) {
      const one = blockLayout([x.length], PER_TENSOR);
      const min = new Float32Array([Infinity]);
      const max = new Float32Array([-Infinity]);
      kernels.minMax(x, one, min, max, 0, opts.allowInf ?? false);
      checkFiniteRange(x, min, max, opts.allowInf ?? false);
    }
  } else {
    if (!opts.dtype) throw new QuantError('INVALID_ARGUMENT', 'quantize needs a dtype or params');
    if (kernels === wasmKernels && opts.rounding !== 'stochastic' && x.length > 0) return quantizeStaged(x, shape, { ...opts, dtype: opts.dtype });
    params = computeQParams(x, shape, { ...opts, dtype: opts.dtype, kernels });
    layout = blockLayout(shape, params.granularity);
  }
  const dtype = getQuantDtype(params.dtype);
  const codes = outputCodes(opts.out, dtype, x.length);
  if (opts.rounding === 'stochastic') {
    quantizeStochastic(x, layout, params.scale, params.zeroPoint, params.qmin, params.qmax, codes, createRng(opts.seed ?? 0));
  } else {
    kernels.quantize(x, layout, params.scale, params.zeroPoint, params.qmin, params.qmax, codes);
  }
  return { codes, params };
}

/**
 * The values a public entry takes: a Float32Array as it is, a plain array of numbers (what
 * `quantize([1, 2, 3], [3], ...)` passes) as a new Float32Array; anything else is INVALID_ARGUMENT
 * saying what is expected, not a TypeError from deep inside.
 */
function float32Input(x: Float32Array | readonly number[], fn: string): Float32Array {
  if (x instanceof Float32Array) return x;
  if (Array.isArray(x)) {
    const bad = x.findIndex((v) => typeof v !== 'number');
    if (bad >= 0) throw new QuantError('INVALID_ARGUMENT', `${fn} takes a Float32Array or an array of numbers; element ${bad} is ${describe(x[bad])}`);
    return Float32Array.from(x);
  }
  throw new QuantError('INVALID_ARGUMENT', `${fn} takes a Float32Array or an array of numbers, got ${describe(x)}`);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} (convert it with Float32Array.from)`;
  return typeof v === 'object' ? `a ${(v as object).constructor?.name ?? 'object'}` : `${typeof v} ${JSON.stringify(v)}`;
}

/** Codes quantized per call of the kernel when they are staged out of linear memory (1-2 MiB: half of L2 or all of it). */
const CODES_PIECE = 1 << 20;

/**
 * Range + quantize with the WASM kernels and ONE copy each way: x is copied into a scratch region of
 * linear memory with the min/max folded in chunk by chunk while each chunk is in cache
 * (copyWithMinMax), quantize then runs in place from there into a reused 1 Mi-code piece, and each
 * piece is copied into the new (uninitialized: output-array.ts) codes array while still in cache.
 * Measured on 16 Mi elements (this 2-core machine): copy + min/max 6.4-6.7 ms, quantize 4.7 ms
 * (bound by f32x4 division), codes out 1.0 ms, against 6.3-7.3 ms for dst.set(x): 1.74-2.05x
 * (docs/kernels.md lists what else was tried). Staging every pass instead runs each chunk's copy
 * and kernel back to back (2.7x). Where shared memory is absent the scratch helpers hand x back and
 * it is staged.
 */
function quantizeStaged(x: Float32Array, shape: readonly number[], opts: QuantizeOptions & { dtype: QuantDtypeName }): { codes: CodeArray; params: QParams } {
  const layout = checkedLayout(x.length, shape, opts.granularity ?? PER_TENSOR);
  const allowInf = opts.allowInf ?? false;
  const min = new Float32Array(layout.paramCount).fill(Infinity);
  const max = new Float32Array(layout.paramCount).fill(-Infinity);
  const staged = stageWithMinMax(x, layout, min, max, allowInf);
  checkFiniteRange(staged, min, max, allowInf);
  const params = qparamsFromRange(min, max, shape, opts);
  const codes = outputCodes(opts.out, getQuantDtype(params.dtype), x.length);
  quantizeInto(staged, staged !== x, layout, params, codes, wasmKernels);
  return { codes, params };
}

/**
 * Runs the quantize kernel over x (already in linear memory when `staged`) into codes. A staged x
 * with a heap output is written through a reused L2-sized piece of linear memory, each piece copied
 * out while still in cache: writing a full-size scratch and reading it back cost ~0.5 ms more.
 */
function quantizeInto(x: Float32Array, staged: boolean, layout: BlockLayout, params: QParams, codes: CodeArray, kernels: Kernels): void {
  const n = x.length;
  const scratch = !staged || kernels !== wasmKernels || isWasmArray(codes) ? undefined : scratchCodes(getQuantDtype(params.dtype).storage, Math.min(n, CODES_PIECE));
  if (!scratch) {
    kernels.quantize(x, layout, params.scale, params.zeroPoint, params.qmin, params.qmax, codes);
    return;
  }
  for (let off = 0; off < n; off += CODES_PIECE) {
    const end = Math.min(n, off + CODES_PIECE);
    const piece = end - off === scratch.length ? scratch : scratch.subarray(0, end - off);
    wasmKernels.quantize(x.subarray(off, end), layout, params.scale, params.zeroPoint, params.qmin, params.qmax, piece, off);
    codes.set(piece as never, off);
  }
}

/** Options of quantizeCounted: a scheme to choose parameters by, or the parameters themselves. */
export interface CountedQuantizeOptions extends Partial<Omit<SchemeOptions, 'dtype' | 'allowInf'>> {
  readonly dtype?: QuantDtypeName;
  /** Quantize with these parameters (their granularity lays x out) instead of choosing them. */
  readonly params?: QParams;
  /** Scan x for NaN/Inf (and its per-parameter extremes) first; default true; only with params can it be off. */
  readonly scan?: boolean;
  /**
   * Called once the scan is done, before parameters are chosen: throws to reject x. Default: NaN
   * and ±Infinity are errors (NAN_INPUT / INF_INPUT naming the first index). Whatever it lets
   * through is encoded: NaN as the zero point (it dequantizes to 0), infinities saturate.
   */
  readonly checkScan?: (x: Float32Array, scan: FiniteScan) => void;
  /**
   * The range to choose parameters from (default: the scan's min/max; returning the scan's own
   * arrays keeps the staged copy). Called with x itself, never a staged copy, so it may run any kernel.
   */
  readonly range?: (x: Float32Array, scan: FiniteScan, layout: BlockLayout) => { min: Float32Array; max: Float32Array };
  /** Count the values the clamp to [qmin, qmax] changed (default false: clipped is 0). */
  readonly countClipped?: boolean;
  readonly out?: CodeArray;
}

/** What quantizeCounted did: the codes, the parameters they were made with, and what it counted. */
export interface CountedQuantizeResult {
  readonly codes: CodeArray;
  readonly params: QParams;
  readonly layout: BlockLayout;
  /** The scan (laid out like the parameters), or null when it was skipped. */
  readonly scan: FiniteScan | null;
  /** Values clamped to qmin or qmax (0 unless countClipped). */
  readonly clipped: number;
  /** NaN and ±Infinity values in x (0 when the scan was skipped). */
  readonly nonFinite: number;
}

/**
 * The quantize pipeline with everything a stateful caller needs in one pass over the data: x is
 * copied into linear memory ONCE with its per-parameter min/max (NaN propagating) folded in
 * (stageWithMinMax), the scan is checked, parameters are chosen from the range (or given), the
 * kernel quantizes in place from the staged copy, NaN codes become the zero point, and the clipped
 * values are counted (skipped when the scanned extremes fit, see extremesFit). Half-even rounding.
 * Example: quantizeCounted(new Float32Array([-1, 0, 3, 9]), [4], { params, countClipped: true })
 * with uint8 parameters of the range [-1, 3] gives clipped 1.
 */
export function quantizeCounted(x: Float32Array, shape: readonly number[], opts: CountedQuantizeOptions): CountedQuantizeResult {
  const kernels = opts.kernels ?? getKernels();
  const given = opts.params;
  if (!given && !opts.dtype) throw new QuantError('INVALID_ARGUMENT', 'quantizeCounted needs a dtype or params');
  const layout = given ? layoutForParams(x.length, shape, given) : checkedLayout(x.length, shape, opts.granularity ?? PER_TENSOR);
  let staged = x;
  let scan: FiniteScan | null = null;
  if (opts.scan !== false || !given) {
    const { min, max } = emptyRange(layout);
    if (kernels === wasmKernels) staged = stageWithMinMax(x, layout, min, max, false);
    else kernels.minMax(x, layout, min, max, 0, false);
    scan = finiteScanOf(x, min, max);
    if (opts.checkScan) opts.checkScan(x, scan);
    else checkFiniteRange(x, min, max, false);
  }
  let params: QParams;
  if (given) params = given;
  else {
    const s = scan!;
    const range = opts.range ? opts.range(x, s, layout) : { min: s.min, max: s.max };
    // A range other than the scan's own came from code that may have run kernels reusing the
    // scratch region the staged copy lives in: stage again (such ranges cost far more than a copy).
    if (range.min !== s.min && staged !== x) staged = stagedFloat32(x);
    params = qparamsFromRange(range.min, range.max, shape, { ...opts, dtype: opts.dtype! });
  }
  const codes = outputCodes(opts.out, getQuantDtype(params.dtype), x.length);
  quantizeInto(staged, staged !== x, layout, params, codes, kernels);
  if (scan?.hasNaN) {
    for (let g = 0; g < x.length; g++) if (x[g] !== x[g]) codes[g] = params.zeroPoint[layout.paramCount === 1 ? 0 : paramIndex(layout, g)];
  }
  const clipped = !opts.countClipped || (scan && extremesFit(scan, params)) ? 0 : countClipped(x, codes, layout, params);
  const nonFinite = scan && (scan.hasNaN || scan.hasInf) ? countNonFinite(x) : 0;
  return { codes, params, layout, scan, clipped, nonFinite };
}

/** x = (q − zeroPoint) · scale in float32, as ONNX DequantizeLinear. */
export function dequantize(
  codes: CodeArray,
  shape: readonly number[],
  params: QParams,
  opts: { out?: Float32Array; kernels?: Kernels } = {},
): Float32Array {
  const layout = layoutForParams(codes.length, shape, params);
  const out = opts.out ?? outputArray(Float32Array, codes.length);
  if (out.length !== codes.length) {
    throw new QuantError('SHAPE_MISMATCH', `output has ${out.length} elements, expected ${codes.length}`);
  }
  (opts.kernels ?? getKernels()).dequantize(codes, layout, params.scale, params.zeroPoint, out);
  return out;
}

/** dequantize(quantize(x)) in one pass: the float values the quantized model would see. */
export function fakeQuantize(
  input: Float32Array | readonly number[],
  shape: readonly number[],
  opts: Omit<QuantizeOptions, 'out' | 'rounding' | 'seed'> & { out?: Float32Array },
): { values: Float32Array; params: QParams } {
  const x = float32Input(input, 'fakeQuantize');
  const kernels = opts.kernels ?? getKernels();
  let params: QParams;
  if (opts.params) {
    params = opts.params;
    // As in quantize: with given parameters an empty tensor is valid (there is no range to compute).
    if (opts.validate !== false && x.length > 0) computeRange(x, blockLayout([x.length], PER_TENSOR), opts.allowInf, kernels);
  } else {
    if (!opts.dtype) throw new QuantError('INVALID_ARGUMENT', 'fakeQuantize needs a dtype or params');
    params = computeQParams(x, shape, { ...opts, dtype: opts.dtype, kernels });
  }
  const layout = layoutForParams(x.length, shape, params);
  const out = opts.out ?? outputArray(Float32Array, x.length);
  if (out.length !== x.length) throw new QuantError('SHAPE_MISMATCH', `output has ${out.length} elements, expected ${x.length}`);
  kernels.fakeQuantize(x, layout, params.scale, params.zeroPoint, params.qmin, params.qmax, out);
  return { values: out, params };
}

function checkedLayout(n: number, shape: readonly number[], granularity: Granularity): BlockLayout {
  const layout = blockLayout(shape, granularity);
  if (layout.size !== n) {
    throw new QuantError('SHAPE_MISMATCH', `shape [${shape.join(', ')}] has ${layout.size} elements but the data has ${n}`);
  }
  return layout;
}

/** The layout of `shape` under params' granularity, checking that the parameters fit it. */
export function layoutForParams(n: number, shape: readonly number[], params: QParams): BlockLayout {
  const layout = checkedLayout(n, shape, params.granularity);
  const want = layout.paramShape;
  if (want.length !== params.paramShape.length || want.some((d, k) => d !== params.paramShape[k]) || params.scale.length !== layout.paramCount || params.zeroPoint.length !== layout.paramCount) {
    throw new QuantError(
      'SHAPE_MISMATCH',
      `parameters of shape [${params.paramShape.join(', ')}] (${params.scale.length} scales) do not fit input of shape [${shape.join(', ')}]: expected [${want.join(', ')}]`,
    );
  }
  return layout;
}

function outputCodes(out: CodeArray | undefined, dtype: QuantDtype, n: number): CodeArray {
  if (!out) return outputCodeArray(dtype, n);
  if (codeStorageOf(out) !== dtype.storage || out.length !== n) {
    throw new QuantError('INVALID_ARGUMENT', `output array must be a ${dtype.storage} array of ${n} elements for ${dtype.name}`);
  }
  return out;
}

function freezeParams(p: QParams): QParams {
  return Object.freeze({ ...p, paramShape: Object.freeze([...p.paramShape]) });
}
