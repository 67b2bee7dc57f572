import { QuantError } from '../core/errors.js';
import { float16BitsToFloat32 } from '../core/float16.js';
import type { QParams } from '../core/qparams.js';
import type { ParamsFileV1 } from '../formats/params-file.js';
import { encodeParamsFile } from '../formats/params-file.js';
import { asBatches, feedCalibration, finishCalibration, isAsyncIterable, startCalibration } from './calibration-run.js';
import type { CalibrationRun } from './calibration-run.js';
import type { QuantizationType, QuantizerConfig } from './config.js';
import { mergeQuantizerConfig, parseQuantizerConfig } from './config.js';
import { dequantizeByPolicy, dequantizeCodes } from './dequantize-tensor.js';
import type { TensorRole } from './layer-config.js';
import { resolveLayerConfig } from './layer-config.js';
import { DEFAULT_KEY, keyOf } from './mode-policy.js';
import type { QuantizerParametersFile } from './parameter-export.js';
import { decodeQuantizerParameters, encodeQuantizerParameters } from './parameter-export.js';
import type { ParameterState } from './parameter-views.js';
import { activeParams, checkImported, parametersUnder } from './parameter-views.js';
import { quantizeByPolicy } from './quantize-tensor.js';
import type { QuantizerStats } from './quantizer-stats.js';
import { addCallStats, emptyStats } from './quantizer-stats.js';
import type {
  CalibratedEntry,
  CalibrateOptions,
  CalibrationReport,
  CopyEffects,
  DequantizeOptions,
  DequantizeResult,
  LayerParams,
  QuantizeResult,
  QuantizerQuantizeOptions,
  ScaleAndZeroPoint,
} from './quantizer-types.js';
import { scaleAndZeroPointFor } from './scale-and-zero-point.js';
import type { FloatTensor, TensorInput } from './tensor-input.js';
import { toFloatTensor } from './tensor-input.js';

export type * from './quantizer-types.js';

function now(): number {
  return performance.now();
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}

/**
 * The stateful quantizer of the reference Quantizer class: a validated config, calibrated and
 * last-used parameters per layer, and statistics. It is a policy layer: which parameters or which
 * scheme a call uses (mode-policy.ts), quantized through the core's one pipeline
 * (quantize-tensor.ts), calibration (calibration-run.ts) and parameter views (parameter-views.ts)
 * live beside it.
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
/**
 * Revisions come from one counter for every Quantizer, so two objects never share one: a holder that
 * swaps an instance's quantizer for another (a replica reloading a record another one changed) is
 * never mistaken for the state a cache was built from.
 */
let revisions = 0;

export class Quantizer {
  private cfg: QuantizerConfig;
  private calibrated = new Map<string, CalibratedEntry>();
  private last = new Map<string, QParams>();
  private stats: QuantizerStats = emptyStats();
  private rev = ++revisions;

  constructor(config: unknown = {}) {
    this.cfg = parseQuantizerConfig(config);
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
    const { calibrated, last } = parametersUnder(next, this.params());
    this.cfg = next;
    this.calibrated = calibrated;
    this.last = last;
    this.rev = ++revisions;
    return next;
  }

  // ---- quantize and dequantize --------------------------------------------------------------

  /** Quantizes a tensor by the mode and the layer's settings; returns the codes and the parameters used. */
  quantize(data: TensorInput, options: QuantizerQuantizeOptions = {}): QuantizeResult {
    const t0 = now();
    const input = this.toInput(data);
    const layer = resolveLayerConfig(this.cfg, options.layerName ?? undefined, options.role);
    const { result, nonFinite, widened } = quantizeByPolicy(input, this.cfg, layer, this.calibrated, options);
    if (widened) {
      this.calibrated.set(widened.key, widened.entry);
      this.stats.requantizations++;
      this.rev = ++revisions;
    }
    this.stats.nonFiniteValues += nonFinite;
    if (result.kind === 'integer') {
      const key = keyOf(layer.layerName);
      // A CALIBRATED quantize reuses the calibrated snapshot: the same object is no change.
      if (this.last.get(key) !== result.params) {
        this.last.set(key, result.params);
        this.rev = ++revisions;
      }
    }
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

  /** x̂ = (q − zeroPoint) · scale with the given, calibrated or last-used parameters of the layer. */
  dequantize(codes: TensorInput, options: DequantizeOptions = {}): DequantizeResult {
    const t0 = now();
    const layer = resolveLayerConfig(this.cfg, options.layerName ?? undefined, options.role);
    const result = dequantizeByPolicy(codes, this.cfg, layer, this.calibrated, this.last, options);
    this.stats.dequantizeCalls++;
    this.stats.processingTimeMs += now() - t0;
    return result;
  }

  /** dequantize(quantize(x)) with one parameter snapshot: the values a quantized model sees. */
  quantizeDequantize(data: TensorInput, options: QuantizerQuantizeOptions = {}): { values: Float32Array; shape: readonly number[]; params: QParams | null; clipped: number; quantizationType: QuantizationType; requantized: boolean } {
    const q = this.quantize(data, options);
    const t0 = now();
    let values: Float32Array;
    if (q.kind === 'none') values = q.codes;
    else if (q.kind === 'float16') values = float16BitsToFloat32(q.codes);
    else values = dequantizeCodes(q.codes, q.shape, q.params);
    this.stats.dequantizeCalls++;
    this.stats.processingTimeMs += now() - t0;
    return { values, shape: q.shape, params: q.params, clipped: q.clipped, quantizationType: q.quantizationType, requantized: q.requantized };
  }

  /**
   * The scale and zero point the current mode would choose for `data`, without quantizing or
   * changing any state. With channelIdx, those of that one channel along channelDim
   * (option, else config.channelDim).
   */
  computeScaleAndZeroPoint(data: TensorInput, channelIdx?: number | null, options: { layerName?: string | null; channelDim?: number | null; role?: TensorRole } = {}): ScaleAndZeroPoint {
    const layer = resolveLayerConfig(this.cfg, options.layerName ?? undefined, options.role);
    return scaleAndZeroPointFor(() => this.toInput(data), this.cfg, layer, channelIdx, options.channelDim);
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
    const run = startCalibration(this.cfg, options);
    for (const b of asBatches(batches)) feedCalibration(run, b);
    const report = this.finish(run);
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
    const run = startCalibration(this.cfg, options);
    const source = isAsyncIterable(batches) ? batches : asBatches(batches as TensorInput | Iterable<TensorInput>);
    let busy = 0;
    for await (const b of source) {
      const t0 = now();
      feedCalibration(run, b);
      busy += now() - t0;
      await yieldToEventLoop();
    }
    if (this.cfg !== run.cfg) {
      throw new QuantError('INVALID_CONFIG', 'the config changed while calibrateAsync ran; its result was discarded (calibrate again)');
    }
    const t0 = now();
    const report = this.finish(run);
    this.stats.processingTimeMs += busy + now() - t0;
    return report;
  }

  private finish(run: CalibrationRun): CalibrationReport {
    const { entry, report } = finishCalibration(run);
    this.calibrated.set(run.key, entry);
    this.rev = ++revisions;
    return report;
  }

  // ---- statistics ---------------------------------------------------------------------------

  /** Counts since construction or resetStats. cacheHits and cacheMisses are always 0: there is no table cache (see docs/engine.md). */
  getStats(): QuantizerStats {
    return { ...this.stats };
  }

  resetStats(): void {
    this.stats = emptyStats();
  }

  /**
   * Does nothing: kept for the Quantizer API contract (DELETE /instances/{id}/cache). Dequantization
   * runs the SIMD (or scalar) kernel directly and caches no tables.
   */
  clearCache(): void {}

  /**
   * Takes on one call made on a copy of this quantizer (`new Quantizer(getConfig())` with
   * `importParameters(exportParameters())` and fresh statistics; e.g. in a worker thread), so that
   * parameters and statistics end as running the call here would have left them: the copy's
   * exported parameters replace these (quantize changes the last-used ones, and a requantization
   * the calibrated ones), its counts add to these statistics (its processing time too) and its last
   * scale replaces this one when it set one. Valid only while nothing else ran on this instance
   * since the copy was taken. Invalid parameters -> INVALID_PARAMS and nothing changes.
   */
  applyCopyEffects(effects: CopyEffects): void {
    if (effects.parameters !== undefined) this.importParameters(effects.parameters);
    addCallStats(this.stats, effects.stats);
  }

  // ---- parameters ---------------------------------------------------------------------------

  private params(): ParameterState {
    return { calibrated: this.calibrated, last: this.last };
  }

  /** Global scale (parameter 0 of the active parameters; NaN when there are none), as the reference's property. */
  get scale(): number {
    return activeParams(this.cfg, this.params(), DEFAULT_KEY, resolveLayerConfig(this.cfg))?.scale[0] ?? NaN;
  }

  get zeroPoint(): number {
    return activeParams(this.cfg, this.params(), DEFAULT_KEY, resolveLayerConfig(this.cfg))?.zeroPoint[0] ?? NaN;
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
    const active = activeParams(this.cfg, this.params(), DEFAULT_KEY, resolveLayerConfig(this.cfg));
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
    const active = activeParams(this.cfg, this.params(), key, layer);
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
    checkImported(this.cfg, decoded);
    this.calibrated = decoded.calibrated;
    this.last = decoded.last;
    this.rev = ++revisions;
  }

  /**
   * Takes on part of an export: each calibrated or last-used entry it holds replaces that entry
   * (or is added), every other entry is kept. Checked as importParameters (INVALID_PARAMS and
   * nothing changes). What a copy of this quantizer changed (one layer's parameters) comes back
   * this way without re-reading every layer.
   */
  mergeParameters(json: unknown): void {
    const decoded = decodeQuantizerParameters(json);
    checkImported(this.cfg, decoded);
    const calibrated = new Map(this.calibrated);
    const last = new Map(this.last);
    for (const [k, e] of decoded.calibrated) calibrated.set(k, e);
    for (const [k, p] of decoded.last) last.set(k, p);
    this.calibrated = calibrated;
    this.last = last;
    this.rev = ++revisions;
  }

  /**
   * The calibrated and last-used parameters as they are now, in maps of their own (the entries are
   * immutable snapshots, so nothing is copied or encoded): compare two by entry identity to learn
   * which layers changed between them.
   */
  parameterState(): ParameterState {
    return { calibrated: new Map(this.calibrated), last: new Map(this.last) };
  }

  /**
   * A number that changes with every change of config or parameters (not of statistics): while it
   * is the same, so is everything exportParameters and getConfig would give.
   */
  get revision(): number {
    return this.rev;
  }
}
