import type { CodeArray, QuantDtypeName } from '../core/dtypes.js';
import { getQuantDtype, outputCodeArray } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../core/float16.js';
import { outputArray } from '../core/output-array.js';
import { getKernels, referenceKernels } from '../core/kernels/index.js';
import type { BlockLayout, Granularity } from '../core/layout.js';
import { blockLayout, normalizeAxis, paramIndex, PER_TENSOR } from '../core/layout.js';
import type { QParams } from '../core/qparams.js';
import { roundHalfEven } from '../core/round.js';
import { layoutForParams, qparamsFromRange } from '../core/quantize.js';
import type { CalibrationMeasures } from './calibration-report.js';
import { measureCalibration } from './calibration-report.js';
import type { QuantizationType, QuantizerConfig } from './config.js';
import { mergeQuantizerConfig, parseQuantizerConfig } from './config.js';
import { countClipped, countFloat16Overflow } from './count-clipped.js';
import { DequantCache, dequantizeWithTables } from './dequant-cache.js';
import type { FiniteScan } from './finite-scan.js';
import { rejectNonFinite, scanRange } from './finite-scan.js';
import type { EffectiveLayerConfig, TensorRole } from './layer-config.js';
import { resolveLayerConfig } from './layer-config.js';
import { OutputBuffers } from './output-buffers.js';
import type { ParamsFileV1 } from '../formats/params-file.js';
import { encodeParamsFile } from '../formats/params-file.js';
import type { QuantizerParametersFile } from './parameter-export.js';
import { decodeQuantizerParameters, encodeQuantizerParameters } from './parameter-export.js';
import type { QuantizerStats } from './quantizer-stats.js';
import { emptyStats } from './quantizer-stats.js';
import type { RangeMethod } from './range-estimator.js';
import { axisOf, createRangeObserver, estimateRange, observeBatch, rangeMethodOf } from './range-estimator.js';
import type { FloatTensor, TensorInput } from './tensor-input.js';
import { toCodeTensor, toFloatTensor } from './tensor-input.js';

export interface QuantizerQuantizeOptions {
  /** Scan for NaN/Inf before quantizing with fixed (calibrated) parameters; default true. Dynamic modes always scan (the range pass does it). */
  readonly validate?: boolean;
  /** Quantize per channel along this axis (negative counts from the end); null/undefined = the mode's default. */
  readonly channelDim?: number | null;
  readonly layerName?: string | null;
  /** What the tensor is (for quantizeBias / quantizeWeightsOnly); inferred from layerName when absent. */
  readonly role?: TensorRole;
  /** Write into the Quantizer's reused output buffer (only with optimizeMemory): valid until the next reuseOutput call. */
  readonly reuseOutput?: boolean;
}

export interface DequantizeOptions {
  readonly channelDim?: number | null;
  readonly layerName?: string | null;
  readonly role?: TensorRole;
  /** The parameters the codes were made with (a quantize result's params); default the layer's calibrated (CALIBRATED) or last-used ones. */
  readonly params?: QParams;
  /** Shape of flat codes (a typed array or number[] is otherwise rank 1). */
  readonly shape?: readonly number[];
  readonly reuseOutput?: boolean;
}

interface ResultBase {
  readonly shape: readonly number[];
  readonly layer: EffectiveLayerConfig;
  /** True when `codes` is a view of the Quantizer's reused buffer (overwritten by the next reuseOutput call). */
  readonly reused: boolean;
}

/** What quantize returns: the codes and, for integer types, exactly the parameters they were made with. */
export type QuantizeResult =
  | (ResultBase & { readonly kind: 'integer'; readonly quantizationType: QuantizationType; readonly dtype: QuantDtypeName; readonly codes: CodeArray; readonly params: QParams; readonly clipped: number; readonly requantized: boolean })
  | (ResultBase & { readonly kind: 'float16'; readonly quantizationType: 'FLOAT16'; readonly dtype: 'float16'; readonly codes: Uint16Array; readonly params: null; readonly clipped: number; readonly requantized: false })
  | (ResultBase & { readonly kind: 'none'; readonly quantizationType: 'NONE'; readonly dtype: 'float32'; readonly codes: Float32Array; readonly params: null; readonly clipped: 0; readonly requantized: false });

export interface DequantizeResult {
  readonly values: Float32Array;
  readonly shape: readonly number[];
  readonly params: QParams | null;
  /** Whether the lookup-table cache produced the values. */
  readonly cached: boolean;
  readonly reused: boolean;
}

export interface ScaleAndZeroPoint {
  /** Parameter 0 (the only one per-tensor). */
  readonly scale: number;
  readonly zeroPoint: number;
  readonly scales: number[];
  readonly zeroPoints: number[];
  readonly params: QParams;
}

export interface CalibrationReport extends CalibrationMeasures {
  readonly layerName: string | null;
  readonly method: RangeMethod['name'];
  readonly dtype: QuantDtypeName;
  readonly symmetric: boolean;
  readonly axis: number | null;
  readonly batches: number;
  readonly scale: number;
  readonly zeroPoint: number;
  readonly scales: number[];
  readonly zeroPoints: number[];
  /** The chosen clipping range (over all channels per-channel). */
  readonly min: number;
  readonly max: number;
  /** The extremes of the finite data seen. */
  readonly observedMin: number;
  readonly observedMax: number;
  readonly params: QParams;
}

export interface CalibrateOptions {
  readonly layerName?: string | null;
  readonly role?: TensorRole;
  /** Per-channel calibration along this axis (default: config.channelDim when perChannel or PER_CHANNEL, else per-tensor). */
  readonly channelDim?: number | null;
}

/** What one call on a copy of a Quantizer changed, for the original to take on (Quantizer.applyCopyEffects). */
export interface CopyEffects {
  /** The copy's exportParameters() after the call; absent for calls that change no parameters (dequantize). */
  readonly parameters?: unknown;
  /** The copy's getStats() after the call: it started fresh, so its counts are the call's (its cache counts are ignored). */
  readonly stats: QuantizerStats;
  /** The parameters the call dequantized integer codes with (dequantize, quantizeDequantize), else null/absent. */
  readonly dequantizedWith?: QParams | null;
}

/** Calibrated state of one layer: an immutable snapshot, replaced whole (never mutated). */
export interface CalibratedEntry {
  readonly params: QParams;
  /** The running range (what requantization widens and config changes recompute parameters from). */
  readonly min: Float32Array;
  readonly max: Float32Array;
  readonly shape: readonly number[];
  readonly method: RangeMethod['name'];
}

export interface LayerParams {
  readonly layerName: string | null;
  readonly quantizationMode: QuantizerConfig['quantizationMode'];
  readonly effective: EffectiveLayerConfig;
  /** The parameters quantize would use now without data (CALIBRATED: calibrated; otherwise the last used), or null. */
  readonly active: ParamsFileV1 | null;
  readonly calibrated: ParamsFileV1 | null;
  readonly last: ParamsFileV1 | null;
}

const DEFAULT_KEY = '';
const NO_SCAN: FiniteScan = Object.freeze({ min: new Float32Array(0), max: new Float32Array(0), hasNaN: false, hasInf: false });

function now(): number {
  return performance.now();
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}

function keyOf(layerName: string | null | undefined): string {
  return layerName ?? DEFAULT_KEY;
}

/** Calibration in progress: everything is private to it until finishCalibration swaps the result in. */
interface CalibrationRun {
  readonly cfg: QuantizerConfig;
  readonly layer: EffectiveLayerConfig;
  readonly key: string;
  readonly method: RangeMethod;
  readonly axis: number | undefined;
  readonly symmetric: boolean;
  readonly observer: ReturnType<typeof createRangeObserver>;
  readonly tensors: FloatTensor[];
  observedMin: number;
  observedMax: number;
  anyFinite: boolean;
}

/**
 * The stateful quantizer of the reference Quantizer class: a validated config, calibrated and
 * last-used parameters per layer, statistics and a dequantization table cache.
 *
 *   q = clamp(roundHalfEven(x / scale) + zeroPoint, qmin, qmax),  x̂ = (q − zeroPoint) · scale
 *
 * Parameters are immutable snapshots: every call reads the ones it uses once and reports exactly
 * those, and calibration builds new ones privately and swaps them in with a single assignment, so a
 * quantize never mixes two parameter sets, even interleaved with calibrateAsync.
 *
 * Example: new Quantizer().quantize([[-1, 0, 3]]) gives int8 codes [[-128, -64, 127]] with
 * scale 4/255 and zeroPoint -64.
 */
export class Quantizer {
  private cfg: QuantizerConfig;
  private calibrated = new Map<string, CalibratedEntry>();
  private last = new Map<string, QParams>();
  private stats: QuantizerStats = emptyStats();
  private cache: DequantCache;
  private buffers: OutputBuffers;

  constructor(config: unknown = {}) {
    this.cfg = parseQuantizerConfig(config);
    this.cache = new DequantCache(this.cfg.cacheSize);
    this.buffers = new OutputBuffers(this.cfg.bufferSize, this.cfg.optimizeMemory);
  }

  // ---- config -------------------------------------------------------------------------------

  /** The validated config (frozen; safe to keep). */
  getConfig(): QuantizerConfig {
    return this.cfg;
  }

  /**
   * Applies a partial config on top of the current one. Invalid -> INVALID_CONFIG and nothing
   * changes. Calibrated ranges are kept and their parameters recomputed for the new scheme; a
   * layer whose range no longer applies (other channel axis or range method, or now unquantized)
   * loses its calibration. Last-used parameters of a dtype the layer no longer quantizes to are
   * dropped, so what exportParameters gives afterwards always imports into a quantizer of the new
   * config (a stored instance stays loadable).
   */
  updateConfig(patch: unknown): QuantizerConfig {
    const next = mergeQuantizerConfig(this.cfg, patch);
    const calibrated = new Map<string, CalibratedEntry>();
    for (const [key, entry] of this.calibrated) {
      const moved = this.recalibrateFor(next, key, entry);
      if (moved) calibrated.set(key, moved);
    }
    const last = new Map<string, QParams>();
    for (const [key, p] of this.last) {
      // The same test importParameters applies: codes of another dtype cannot be dequantized by this config.
      if (resolveLayerConfig(next, key === DEFAULT_KEY ? undefined : key).dtype === p.dtype) last.set(key, p);
    }
    if (next.cacheSize !== this.cfg.cacheSize) this.cache.resize(next.cacheSize);
    if (!next.enableCache) this.cache.clear();
    if (next.bufferSize !== this.cfg.bufferSize || next.optimizeMemory !== this.cfg.optimizeMemory) {
      this.buffers = new OutputBuffers(next.bufferSize, next.optimizeMemory);
    }
    this.cfg = next;
    this.calibrated = calibrated;
    this.last = last;
    return next;
  }

  private recalibrateFor(cfg: QuantizerConfig, key: string, entry: CalibratedEntry): CalibratedEntry | null {
    const layer = resolveLayerConfig(cfg, key === DEFAULT_KEY ? undefined : key);
    if (layer.passThrough || layer.dtype === null) return null;
    if (rangeMethodOf(cfg).name !== entry.method) return null;
    const wantAxis = this.defaultAxis(cfg, layer);
    const haveAxis = axisOf(entry.params.granularity);
    const normalized = wantAxis === undefined ? undefined : normalizeAxis(wantAxis, entry.shape.length);
    if (normalized !== haveAxis) return null;
    const params = qparamsFromRange(entry.min, entry.max, entry.shape, {
      dtype: layer.dtype,
      symmetric: this.symmetricFor(cfg, layer),
      granularity: entry.params.granularity,
    });
    return { ...entry, params };
  }

  // ---- modes --------------------------------------------------------------------------------

  private symmetricFor(cfg: QuantizerConfig, layer: EffectiveLayerConfig): boolean {
    if (cfg.quantizationMode === 'SYMMETRIC') return true;
    if (cfg.quantizationMode === 'ASYMMETRIC') return false;
    return layer.symmetric;
  }

  /** The channel axis a layer is quantized along when the call names none (undefined = per tensor). */
  private defaultAxis(cfg: QuantizerConfig, layer: EffectiveLayerConfig): number | undefined {
    if (cfg.quantizationMode === 'DYNAMIC_PER_BATCH') return 0;
    return cfg.quantizationMode === 'PER_CHANNEL' || layer.perChannel ? cfg.channelDim : undefined;
  }

  private granularityFor(cfg: QuantizerConfig, layer: EffectiveLayerConfig, rank: number, channelDim: number | null | undefined): Granularity {
    if (cfg.quantizationMode === 'DYNAMIC_PER_BATCH') {
      if (channelDim !== undefined && channelDim !== null && normalizeAxis(channelDim, rank) !== 0) {
        throw new QuantError('INVALID_ARGUMENT', `DYNAMIC_PER_BATCH quantizes each row along axis 0; channelDim ${channelDim} is not axis 0`);
      }
      if (rank === 0) throw new QuantError('SHAPE_MISMATCH', 'DYNAMIC_PER_BATCH needs data of rank >= 1 (rows along axis 0), got a scalar');
      return { kind: 'per-axis', axis: 0 };
    }
    const axis = channelDim ?? this.defaultAxis(cfg, layer);
    return axis === undefined ? PER_TENSOR : { kind: 'per-axis', axis: normalizeAxis(axis, rank) };
  }

  // ---- quantize -----------------------------------------------------------------------------

  /** Quantizes a tensor by the mode and the layer's settings; returns the codes and the parameters used. */
  quantize(data: TensorInput, options: QuantizerQuantizeOptions = {}): QuantizeResult {
    const t0 = now();
    const result = this.quantizeTensor(this.toInput(data), options);
    this.stats.quantizeCalls++;
    this.stats.totalValues += result.codes.length;
    this.stats.clippedValues += result.clipped;
    if (result.params) {
      this.stats.lastScale = result.params.scale[0];
      this.stats.lastZeroPoint = result.params.zeroPoint[0];
    }
    this.stats.processingTimeMs += now() - t0;
    return result;
  }

  private toInput(data: TensorInput): FloatTensor {
    const t = toFloatTensor(data);
    if (t.data.length === 0) throw new QuantError('EMPTY_INPUT', `cannot quantize empty data (shape [${t.shape.join(', ')}])`);
    return t;
  }

  private quantizeTensor(input: FloatTensor, options: QuantizerQuantizeOptions): QuantizeResult {
    const cfg = this.cfg;
    const layer = resolveLayerConfig(cfg, options.layerName ?? undefined, options.role);
    const { data: x, shape } = input;
    if (layer.passThrough) {
      return { kind: 'none', quantizationType: 'NONE', dtype: 'float32', codes: x, shape, params: null, layer, clipped: 0, requantized: false, reused: false };
    }
    const reuse = options.reuseOutput === true && cfg.optimizeMemory;
    if (layer.quantizationType === 'FLOAT16') {
      if (options.validate !== false) {
        const scan = scanRange(x, blockLayout([x.length], PER_TENSOR));
        rejectNonFinite(x, scan, cfg.errorOnNan, cfg.errorOnInf);
        this.stats.nonFiniteValues += scan.hasNaN || scan.hasInf ? countNonFinite(x) : 0;
      }
      const bits = float32ToFloat16Bits(x, reuse ? (this.buffers.codes('uint16', x.length) as Uint16Array) : undefined);
      return { kind: 'float16', quantizationType: 'FLOAT16', dtype: 'float16', codes: bits, shape, params: null, layer, clipped: countFloat16Overflow(x, bits), requantized: false, reused: reuse };
    }
    return this.quantizeInteger(x, shape, cfg, layer, options, reuse);
  }

  private quantizeInteger(
    x: Float32Array,
    shape: readonly number[],
    cfg: QuantizerConfig,
    layer: EffectiveLayerConfig,
    options: QuantizerQuantizeOptions,
    reuse: boolean,
  ): QuantizeResult {
    const key = keyOf(layer.layerName);
    const dtype = getQuantDtype(layer.dtype!);
    let params: QParams;
    let layout: BlockLayout;
    let scan: FiniteScan;
    let entryKey: string | null = null;
    if (cfg.quantizationMode === 'CALIBRATED') {
      entryKey = this.calibratedKeyFor(key, layer, cfg);
      params = this.calibrated.get(entryKey)!.params;
      layout = layoutForParams(x.length, shape, params);
      checkChannelDim(options.channelDim, params, shape.length);
      scan = options.validate === false ? NO_SCAN : scanRange(x, blockLayout([x.length], PER_TENSOR));
      rejectNonFinite(x, scan, cfg.errorOnNan, cfg.errorOnInf);
    } else {
      const granularity = this.granularityFor(cfg, layer, shape.length, options.channelDim);
      layout = blockLayout(shape, granularity);
      scan = scanRange(x, layout);
      rejectNonFinite(x, scan, cfg.errorOnNan, cfg.errorOnInf);
      const { min, max } = estimateRange(rangeMethodOf(cfg), x, shape, layout, granularity, scan, { dtype: dtype.name });
      params = qparamsFromRange(min, max, shape, { dtype: dtype.name, symmetric: this.symmetricFor(cfg, layer), granularity });
    }
    const codes = reuse ? this.buffers.codes(dtype.storage, x.length) : outputCodeArray(dtype, x.length);
    let clipped = encode(x, layout, params, codes, scan);
    let requantized = false;
    if (entryKey !== null && cfg.enableRequantization && clipped / x.length > cfg.requantizationThreshold) {
      params = this.widenCalibration(entryKey, x, shape, layout, params);
      clipped = encode(x, layout, params, codes, scan);
      requantized = true;
      this.stats.requantizations++;
    }
    if (scan.hasNaN || scan.hasInf) this.stats.nonFiniteValues += countNonFinite(x);
    this.last.set(key, params);
    return { kind: 'integer', quantizationType: layer.quantizationType, dtype: dtype.name, codes, shape, params, layer, clipped, requantized, reused: reuse };
  }

  /** Which calibrated entry a layer uses: its own, else the instance's when the scheme matches. */
  private calibratedKeyFor(key: string, layer: EffectiveLayerConfig, cfg: QuantizerConfig): string {
    const symmetric = this.symmetricFor(cfg, layer);
    for (const k of key === DEFAULT_KEY ? [key] : [key, DEFAULT_KEY]) {
      const e = this.calibrated.get(k);
      if (e && e.params.dtype === layer.dtype && e.params.symmetric === symmetric) return k;
    }
    const who = layer.layerName === null ? 'this quantizer' : `layer '${layer.layerName}'`;
    throw new QuantError(
      'NOT_CALIBRATED',
      `CALIBRATED mode needs calibrated ${layer.dtype}${symmetric ? ' symmetric' : ''} parameters for ${who}: call calibrate${layer.layerName === null ? '' : ` with layerName '${layer.layerName}'`} (or importParameters) first`,
    );
  }

  /** Requantization: the running range grows to cover x and the parameters are recomputed from it. */
  private widenCalibration(entryKey: string, x: Float32Array, shape: readonly number[], layout: BlockLayout, params: QParams): QParams {
    const entry = this.calibrated.get(entryKey)!;
    const scan = scanRange(x, layout);
    const r = estimateRange({ name: 'minmax' }, x, shape, layout, params.granularity, scan);
    const min = entry.min.slice();
    const max = entry.max.slice();
    for (let p = 0; p < min.length; p++) {
      if (r.min[p] < min[p]) min[p] = r.min[p];
      if (r.max[p] > max[p]) max[p] = r.max[p];
    }
    const next = qparamsFromRange(min, max, shape, { dtype: params.dtype, symmetric: params.symmetric, narrow: params.narrow, granularity: params.granularity });
    this.calibrated.set(entryKey, { ...entry, params: next, min, max });
    return next;
  }

  // ---- dequantize ---------------------------------------------------------------------------

  /** x̂ = (q − zeroPoint) · scale with the given, calibrated or last-used parameters of the layer. */
  dequantize(codes: TensorInput, options: DequantizeOptions = {}): DequantizeResult {
    const t0 = now();
    const cfg = this.cfg;
    const layer = resolveLayerConfig(cfg, options.layerName ?? undefined, options.role);
    const reuse = options.reuseOutput === true && cfg.optimizeMemory;
    let result: DequantizeResult;
    if (layer.passThrough) {
      const t = reshape(toFloatTensor(codes, 'codes'), options.shape);
      result = { values: t.data, shape: t.shape, params: null, cached: false, reused: false };
    } else if (layer.quantizationType === 'FLOAT16') {
      const t = toCodeTensor(codes, 'uint16', 0, 65535, 'float16 bits');
      const shape = reshapeCodes(t.codes.length, t.shape, options.shape);
      const values = float16BitsToFloat32(t.codes as Uint16Array, reuse ? this.buffers.floats(t.codes.length) : undefined);
      result = { values, shape, params: null, cached: false, reused: reuse };
    } else {
      const params = options.params ?? this.paramsForDequantize(keyOf(layer.layerName), layer, cfg);
      const t = toCodeTensor(codes, getQuantDtype(params.dtype).storage, params.qmin, params.qmax);
      const shape = reshapeCodes(t.codes.length, t.shape, options.shape);
      checkChannelDim(options.channelDim, params, shape.length);
      const out = reuse ? this.buffers.floats(t.codes.length) : outputArray(Float32Array, t.codes.length);
      const cached = this.dequantizeInto(t.codes, shape, params, out, cfg);
      result = { values: out, shape, params, cached, reused: reuse };
    }
    this.stats.dequantizeCalls++;
    this.stats.processingTimeMs += now() - t0;
    return result;
  }

  private dequantizeInto(codes: CodeArray, shape: readonly number[], params: QParams, out: Float32Array, cfg: QuantizerConfig): boolean {
    const layout = layoutForParams(codes.length, shape, params);
    const storage = getQuantDtype(params.dtype).storage;
    if (tablesServe(params, cfg)) {
      const signed = storage === 'int8';
      dequantizeWithTables(codes, layout, (p) => this.cache.table(signed, params.scale[p], params.zeroPoint[p]), out);
      return true;
    }
    getKernels().dequantize(codes, layout, params.scale, params.zeroPoint, out);
    return false;
  }

  private paramsForDequantize(key: string, layer: EffectiveLayerConfig, cfg: QuantizerConfig): QParams {
    if (cfg.quantizationMode === 'CALIBRATED') return this.calibrated.get(this.calibratedKeyFor(key, layer, cfg))!.params;
    const p = this.last.get(key);
    if (!p) {
      throw new QuantError(
        'NOT_CALIBRATED',
        `no parameters to dequantize ${layer.layerName === null ? '' : `layer '${layer.layerName}' `}with: pass the params a quantize returned, or quantize first`,
      );
    }
    return p;
  }

  /** dequantize(quantize(x)) with one parameter snapshot: the values a quantized model sees. */
  quantizeDequantize(data: TensorInput, options: QuantizerQuantizeOptions = {}): { values: Float32Array; shape: readonly number[]; params: QParams | null; clipped: number; quantizationType: QuantizationType; requantized: boolean } {
    const q = this.quantize(data, { ...options, reuseOutput: false });
    const t0 = now();
    let values: Float32Array;
    if (q.kind === 'none') values = q.codes;
    else if (q.kind === 'float16') values = float16BitsToFloat32(q.codes);
    else {
      values = new Float32Array(q.codes.length);
      this.dequantizeInto(q.codes, q.shape, q.params, values, this.cfg);
    }
    this.stats.dequantizeCalls++;
    this.stats.processingTimeMs += now() - t0;
    return { values, shape: q.shape, params: q.params, clipped: q.clipped, quantizationType: q.quantizationType, requantized: q.requantized };
  }

  // ---- parameters without quantizing --------------------------------------------------------

  /**
   * The scale and zero point the current mode would choose for `data`, without quantizing or
   * changing any state. With channelIdx, those of that one channel along channelDim
   * (option, else config.channelDim).
   */
  computeScaleAndZeroPoint(data: TensorInput, channelIdx?: number | null, options: { layerName?: string | null; channelDim?: number | null; role?: TensorRole } = {}): ScaleAndZeroPoint {
    const cfg = this.cfg;
    const layer = resolveLayerConfig(cfg, options.layerName ?? undefined, options.role);
    if (layer.dtype === null || layer.passThrough) {
      throw new QuantError('UNSUPPORTED', `${layer.passThrough ? `layer '${layer.layerName}' is not quantized (${layer.passThrough})` : `${layer.quantizationType} has no scale or zero point`}`);
    }
    let { data: x, shape } = this.toInput(data);
    let granularity: Granularity;
    if (channelIdx !== undefined && channelIdx !== null) {
      const axis = normalizeAxis(options.channelDim ?? cfg.channelDim, shape.length);
      if (!Number.isInteger(channelIdx) || channelIdx < 0 || channelIdx >= shape[axis]) {
        throw new QuantError('AXIS_OUT_OF_RANGE', `channelIdx ${channelIdx} is out of range for ${shape[axis]} channels along axis ${axis}`);
      }
      x = sliceChannel(x, shape, axis, channelIdx);
      shape = [x.length];
      granularity = PER_TENSOR;
    } else {
      granularity = cfg.quantizationMode === 'CALIBRATED' ? ((a) => (a === undefined ? PER_TENSOR : { kind: 'per-axis' as const, axis: normalizeAxis(a, shape.length) }))(options.channelDim ?? this.defaultAxis(cfg, layer)) : this.granularityFor(cfg, layer, shape.length, options.channelDim);
    }
    const layout = blockLayout(shape, granularity);
    const scan = scanRange(x, layout);
    rejectNonFinite(x, scan, cfg.errorOnNan, cfg.errorOnInf);
    const { min, max } = estimateRange(rangeMethodOf(cfg), x, shape, layout, granularity, scan, { dtype: layer.dtype });
    const params = qparamsFromRange(min, max, shape, { dtype: layer.dtype, symmetric: this.symmetricFor(cfg, layer), granularity });
    return { scale: params.scale[0], zeroPoint: params.zeroPoint[0], scales: Array.from(params.scale), zeroPoints: Array.from(params.zeroPoint), params };
  }

  // ---- calibration --------------------------------------------------------------------------

  /**
   * Calibrates from representative batches (an array of tensors, all of one shape; a single typed
   * array, { data, shape } or Tensor counts as one batch) with the config's range method, stores the
   * parameters for the layer (or the instance) and reports how well they fit. State changes only
   * when everything succeeded.
   */
  calibrate(batches: TensorInput | Iterable<TensorInput>, options: CalibrateOptions = {}): CalibrationReport {
    const t0 = now();
    const run = this.startCalibration(options);
    for (const b of asBatches(batches)) this.feedCalibration(run, b);
    const report = this.finishCalibration(run);
    this.stats.processingTimeMs += now() - t0;
    return report;
  }

  /**
   * calibrate over an array, an iterable or an async iterable of batches, yielding to the event loop
   * after each batch so other work (quantize calls, HTTP requests) runs meanwhile. Those calls keep
   * using the previous parameters until this one swaps its result in at the end. Fails (state
   * unchanged) if the config was changed meanwhile.
   */
  async calibrateAsync(batches: TensorInput | Iterable<TensorInput> | AsyncIterable<TensorInput>, options: CalibrateOptions = {}): Promise<CalibrationReport> {
    const run = this.startCalibration(options);
    const source = isAsyncIterable(batches) ? batches : asBatches(batches as TensorInput | Iterable<TensorInput>);
    let busy = 0;
    for await (const b of source) {
      const t0 = now();
      this.feedCalibration(run, b);
      busy += now() - t0;
      await yieldToEventLoop();
    }
    if (this.cfg !== run.cfg) {
      throw new QuantError('INVALID_CONFIG', 'the config changed while calibrateAsync ran; its result was discarded (calibrate again)');
    }
    const t0 = now();
    const report = this.finishCalibration(run);
    this.stats.processingTimeMs += busy + now() - t0;
    return report;
  }

  private startCalibration(options: CalibrateOptions): CalibrationRun {
    const cfg = this.cfg;
    const layer = resolveLayerConfig(cfg, options.layerName ?? undefined, options.role);
    if (layer.passThrough) throw new QuantError('UNSUPPORTED', `layer '${layer.layerName}' is not quantized (${layer.passThrough}); nothing to calibrate`);
    if (layer.dtype === null) throw new QuantError('UNSUPPORTED', `${layer.quantizationType} has no scale or zero point to calibrate`);
    const method = rangeMethodOf(cfg);
    // DYNAMIC_PER_BATCH quantizes each row with its own parameters, so a calibration cannot be per row:
    // it is per tensor (or per channel), as in the other modes, kept for a later switch to CALIBRATED
    // and reported, as the reference's own example (DYNAMIC_PER_BATCH, then calibrate) expects.
    const axis = options.channelDim ?? (cfg.quantizationMode === 'DYNAMIC_PER_BATCH' ? (layer.perChannel ? cfg.channelDim : undefined) : this.defaultAxis(cfg, layer));
    return {
      cfg,
      layer,
      key: keyOf(layer.layerName),
      method,
      axis,
      symmetric: this.symmetricFor(cfg, layer),
      observer: createRangeObserver(method, axis),
      tensors: [],
      observedMin: Infinity,
      observedMax: -Infinity,
      anyFinite: false,
    };
  }

  private feedCalibration(run: CalibrationRun, batch: TensorInput): void {
    const i = run.tensors.length;
    const t = toFloatTensor(batch, `calibration batch ${i}`);
    if (t.data.length === 0) throw new QuantError('EMPTY_INPUT', `calibration batch ${i} is empty (shape [${t.shape.join(', ')}])`);
    const first = run.tensors[0];
    if (first && (first.shape.length !== t.shape.length || first.shape.some((d, k) => d !== t.shape[k]))) {
      throw new QuantError('SHAPE_MISMATCH', `calibration batch ${i} has shape [${t.shape.join(', ')}] but batch 0 has [${first.shape.join(', ')}]; all batches must have one shape`);
    }
    const layout = blockLayout(t.shape, run.axis === undefined ? PER_TENSOR : { kind: 'per-axis', axis: normalizeAxis(run.axis, t.shape.length) });
    const scan = scanRange(t.data, layout);
    rejectNonFinite(t.data, scan, run.cfg.errorOnNan, run.cfg.errorOnInf, `calibration batch ${i}`);
    if (observeBatch(run.observer, t.data, t.shape, scan)) run.anyFinite = true;
    for (let p = 0; p < scan.min.length; p++) {
      // Non-finite parameters (NaN/Inf allowed) are left to the observer, which saw only finite values.
      if (Number.isFinite(scan.min[p]) && scan.min[p] < run.observedMin) run.observedMin = scan.min[p];
      if (Number.isFinite(scan.max[p]) && scan.max[p] > run.observedMax) run.observedMax = scan.max[p];
    }
    run.tensors.push(t);
  }

  private finishCalibration(run: CalibrationRun): CalibrationReport {
    if (run.tensors.length === 0) throw new QuantError('EMPTY_INPUT', 'calibrate needs at least one batch, got none');
    const shape = run.tensors[0].shape;
    const granularity: Granularity = run.axis === undefined ? PER_TENSOR : { kind: 'per-axis', axis: normalizeAxis(run.axis, shape.length) };
    const count = granularity.kind === 'per-tensor' ? 1 : shape[granularity.axis];
    const range = run.anyFinite ? run.observer.range({ dtype: run.layer.dtype! }) : { min: new Float32Array(count), max: new Float32Array(count) };
    const params = qparamsFromRange(range.min, range.max, shape, { dtype: run.layer.dtype!, symmetric: run.symmetric, granularity });
    const min = Math.min(...range.min);
    const max = Math.max(...range.max);
    const measures = measureCalibration(run.tensors, params, { include: [min, max] });
    const entry: CalibratedEntry = { params, min: range.min, max: range.max, shape: [...shape], method: run.method.name };
    this.calibrated.set(run.key, entry);
    return {
      layerName: run.layer.layerName,
      method: run.method.name,
      dtype: params.dtype,
      symmetric: params.symmetric,
      axis: granularity.kind === 'per-axis' ? granularity.axis : null,
      batches: run.tensors.length,
      scale: params.scale[0],
      zeroPoint: params.zeroPoint[0],
      scales: Array.from(params.scale),
      zeroPoints: Array.from(params.zeroPoint),
      min,
      max,
      observedMin: run.anyFinite ? run.observedMin : NaN,
      observedMax: run.anyFinite ? run.observedMax : NaN,
      ...measures,
      params,
    };
  }

  // ---- statistics and cache -----------------------------------------------------------------

  getStats(): QuantizerStats {
    return { ...this.stats, cacheHits: this.cache.hits, cacheMisses: this.cache.misses };
  }

  resetStats(): void {
    this.stats = emptyStats();
    this.cache.hits = 0;
    this.cache.misses = 0;
  }

  /** Drops every cached dequantization table (hit and miss counts are statistics: resetStats clears them). */
  clearCache(): void {
    this.cache.clear();
  }

  /** Tables currently cached. */
  get cacheSize(): number {
    return this.cache.size;
  }

  /**
   * Takes on one call made on a copy of this quantizer (`new Quantizer(getConfig())` with
   * `importParameters(exportParameters())`, fresh statistics and cache; e.g. in a worker thread),
   * so that parameters, statistics and cache end as running the call here would have left them:
   * the copy's exported parameters replace these (quantize changes the last-used ones, and a
   * requantization the calibrated ones), its counts add to these statistics (its processing time
   * too) and its last scale replaces this one when it set one; the dequantization tables the call
   * would have looked up here are looked up in this cache, in the same order, so hits, misses and
   * recency match. Valid only while nothing else ran on this instance since the copy was taken.
   * Invalid parameters -> INVALID_PARAMS and nothing changes.
   */
  applyCopyEffects(effects: CopyEffects): void {
    if (effects.parameters !== undefined) this.importParameters(effects.parameters);
    const s = this.stats;
    const d = effects.stats;
    s.clippedValues += d.clippedValues;
    s.totalValues += d.totalValues;
    s.quantizeCalls += d.quantizeCalls;
    s.dequantizeCalls += d.dequantizeCalls;
    s.requantizations += d.requantizations;
    s.nonFiniteValues += d.nonFiniteValues;
    s.processingTimeMs += d.processingTimeMs;
    // Fresh statistics hold NaN until a quantize with parameters; a scale is never NaN.
    if (!Number.isNaN(d.lastScale)) {
      s.lastScale = d.lastScale;
      s.lastZeroPoint = d.lastZeroPoint;
    }
    const p = effects.dequantizedWith;
    if (p && tablesServe(p, this.cfg)) {
      const signed = getQuantDtype(p.dtype).storage === 'int8';
      for (let k = 0; k < p.scale.length; k++) this.cache.table(signed, p.scale[k], p.zeroPoint[k]);
    }
  }

  // ---- parameters ---------------------------------------------------------------------------

  /** The instance's current parameters (CALIBRATED: calibrated, else the last used), as JSON data. */
  private activeParams(key: string, layer: EffectiveLayerConfig): QParams | null {
    if (this.cfg.quantizationMode === 'CALIBRATED') {
      if (layer.dtype === null || layer.passThrough) return null;
      try {
        return this.calibrated.get(this.calibratedKeyFor(key, layer, this.cfg))!.params;
      } catch {
        return null;
      }
    }
    return this.last.get(key) ?? null;
  }

  /** Global scale (parameter 0 of the active parameters; NaN when there are none), as the reference's property. */
  get scale(): number {
    return this.activeParams(DEFAULT_KEY, resolveLayerConfig(this.cfg))?.scale[0] ?? NaN;
  }

  get zeroPoint(): number {
    return this.activeParams(DEFAULT_KEY, resolveLayerConfig(this.cfg))?.zeroPoint[0] ?? NaN;
  }

  /**
   * Every parameter the quantizer holds: the active per-tensor summary (scale, zeroPoint of
   * parameter 0), and per layer ("" is the instance) the calibrated and last-used parameters.
   */
  getParameters(): {
    scale: number;
    zeroPoint: number;
    active: ParamsFileV1 | null;
    calibrated: Record<string, ParamsFileV1>;
    last: Record<string, ParamsFileV1>;
  } {
    const active = this.activeParams(DEFAULT_KEY, resolveLayerConfig(this.cfg));
    return {
      scale: active?.scale[0] ?? NaN,
      zeroPoint: active?.zeroPoint[0] ?? NaN,
      active: active && encodeParamsFile(active),
      calibrated: Object.fromEntries([...this.calibrated].map(([k, e]) => [k, encodeParamsFile(e.params)])),
      last: Object.fromEntries([...this.last].map(([k, p]) => [k, encodeParamsFile(p)])),
    };
  }

  /** The effective settings and parameters of one layer. */
  getLayerParams(layerName: string): LayerParams {
    const layer = resolveLayerConfig(this.cfg, layerName);
    const key = keyOf(layerName);
    const calibrated = this.calibrated.get(key);
    const last = this.last.get(key);
    const active = this.activeParams(key, layer);
    return {
      layerName,
      quantizationMode: this.cfg.quantizationMode,
      effective: layer,
      active: active && encodeParamsFile(active),
      calibrated: calibrated ? encodeParamsFile(calibrated.params) : null,
      last: last ? encodeParamsFile(last) : null,
    };
  }

  /** A versioned JSON object of every calibrated and last-used parameter (see parameter-export.ts). */
  exportParameters(): QuantizerParametersFile {
    return encodeQuantizerParameters(this.calibrated, this.last);
  }

  /**
   * Replaces the calibrated and last-used parameters with exported ones. Another format version, or
   * parameters whose dtype is not the one this quantizer uses for that layer, are INVALID_PARAMS and
   * nothing changes. Quantizing in CALIBRATED mode afterwards reproduces the exporter's codes bit for bit.
   */
  importParameters(json: unknown): void {
    const decoded = decodeQuantizerParameters(json);
    const cfg = this.cfg;
    const check = (key: string, p: QParams, what: string) => {
      const layer = resolveLayerConfig(cfg, key === DEFAULT_KEY ? undefined : key);
      if (layer.dtype !== p.dtype) {
        const who = key === DEFAULT_KEY ? 'the instance' : `layer '${key}'`;
        throw new QuantError('INVALID_PARAMS', `${what} parameters for ${who} are ${p.dtype}, but this quantizer quantizes it as ${layer.dtype ?? layer.quantizationType}`);
      }
    };
    for (const [k, e] of decoded.calibrated) check(k, e.params, 'calibrated');
    for (const [k, p] of decoded.last) check(k, p, 'last-used');
    this.calibrated = decoded.calibrated;
    this.last = decoded.last;
  }
}

/**
 * Whether dequantizing with params goes through the table cache: tables beat the scalar reference
 * kernel 2.4-4x but lose 3-5x to WebAssembly SIMD (bench/engine.bench.mjs), so they serve 8-bit
 * storage only when no SIMD kernel is active. One lookup per parameter, in order.
 */
function tablesServe(params: QParams, cfg: QuantizerConfig): boolean {
  const storage = getQuantDtype(params.dtype).storage;
  return cfg.enableCache && getKernels().name === referenceKernels.name && (storage === 'int8' || storage === 'uint8');
}

function asBatches(batches: TensorInput | Iterable<TensorInput>): Iterable<TensorInput> {
  if (Array.isArray(batches)) return batches as TensorInput[];
  if (batches !== null && typeof batches === 'object' && !ArrayBuffer.isView(batches) && Symbol.iterator in batches) return batches as Iterable<TensorInput>;
  return [batches as TensorInput];
}

function isAsyncIterable(v: unknown): v is AsyncIterable<TensorInput> {
  return v !== null && typeof v === 'object' && Symbol.asyncIterator in v;
}

/** Quantizes x into codes with params; NaN (when allowed through) becomes the zero point, so it dequantizes to 0. Returns the clipped count. */
function encode(x: Float32Array, layout: BlockLayout, params: QParams, codes: CodeArray, scan: FiniteScan): number {
  getKernels().quantize(x, layout, params.scale, params.zeroPoint, params.qmin, params.qmax, codes);
  if (scan.hasNaN) {
    for (let g = 0; g < x.length; g++) if (x[g] !== x[g]) codes[g] = params.zeroPoint[layout.paramCount === 1 ? 0 : paramIndex(layout, g)];
  }
  return extremesFit(scan, params) ? 0 : countClipped(x, codes, layout, params);
}

/**
 * x ↦ roundHalfEven(x / scale) is monotonic, so when the scanned extremes of every parameter's
 * values land inside [qmin, qmax] no value was clamped and the counting pass can be skipped (the
 * usual case for dynamic min/max parameters). Needs a scan laid out like the parameters.
 */
function extremesFit(scan: FiniteScan, params: QParams): boolean {
  if (scan.hasNaN || scan.hasInf || scan.min.length !== params.scale.length) return false;
  for (let p = 0; p < scan.min.length; p++) {
    const lo = roundHalfEven(Math.fround(scan.min[p] / params.scale[p])) + params.zeroPoint[p];
    const hi = roundHalfEven(Math.fround(scan.max[p] / params.scale[p])) + params.zeroPoint[p];
    if (lo < params.qmin || hi > params.qmax) return false;
  }
  return true;
}

function countNonFinite(x: Float32Array): number {
  let n = 0;
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) n++;
  return n;
}

function checkChannelDim(channelDim: number | null | undefined, params: QParams, rank: number): void {
  if (channelDim === undefined || channelDim === null) return;
  const axis = normalizeAxis(channelDim, rank);
  const have = axisOf(params.granularity);
  if (have !== axis) {
    throw new QuantError('SHAPE_MISMATCH', `channelDim ${channelDim} asks for per-channel parameters along axis ${axis}, but the parameters are ${have === undefined ? 'per-tensor' : `along axis ${have}`}`);
  }
}

function reshape(t: FloatTensor, shape: readonly number[] | undefined): FloatTensor {
  return shape ? { ...t, shape: reshapeCodes(t.data.length, t.shape, shape) } : t;
}

function reshapeCodes(n: number, have: readonly number[], want: readonly number[] | undefined): readonly number[] {
  if (!want) return have;
  const size = want.reduce((a, d) => a * d, 1);
  if (!want.every((d) => Number.isSafeInteger(d) && d >= 0) || size !== n) {
    throw new QuantError('SHAPE_MISMATCH', `shape [${want.join(', ')}] does not fit ${n} codes`);
  }
  return [...want];
}

/** The values of one channel along `axis`, in C order. */
function sliceChannel(x: Float32Array, shape: readonly number[], axis: number, c: number): Float32Array {
  const inner = shape.slice(axis + 1).reduce((a, d) => a * d, 1);
  const len = shape[axis];
  const outer = x.length / (inner * len);
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) out.set(x.subarray((o * len + c) * inner, (o * len + c + 1) * inner), o * inner);
  return out;
}
