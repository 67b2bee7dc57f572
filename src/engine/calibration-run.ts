import { QuantError } from '../core/errors.js';
import { axisGranularity, blockLayout } from '../core/layout.js';
import { qparamsFromRange } from '../core/quantize.js';
import { measureCalibration } from './calibration-report.js';
import type { QuantizerConfig } from './config.js';
import { rejectNonFinite, scanRange } from './finite-scan.js';
import type { EffectiveLayerConfig } from './layer-config.js';
import { resolveLayerConfig } from './layer-config.js';
import { defaultAxis, keyOf, symmetricFor } from './mode-policy.js';
import type { CalibrateOptions, CalibratedEntry, CalibrationReport } from './quantizer-types.js';
import type { RangeMethod } from './range-estimator.js';
import { createRangeObserver, observeBatch, rangeMethodOf } from './range-estimator.js';
import type { FloatTensor, TensorInput } from './tensor-input.js';
import { toFloatTensor } from './tensor-input.js';

/** Calibration in progress: everything is private to it until finishCalibration hands the result over. */
export interface CalibrationRun {
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

/** A run for the layer (or the instance) under cfg; UNSUPPORTED when the layer has nothing to calibrate. */
export function startCalibration(cfg: QuantizerConfig, options: CalibrateOptions): CalibrationRun {
  const layer = resolveLayerConfig(cfg, options.layerName ?? undefined, options.role);
  if (layer.passThrough) throw new QuantError('UNSUPPORTED', `layer '${layer.layerName}' is not quantized (${layer.passThrough}); nothing to calibrate`);
  if (layer.dtype === null) throw new QuantError('UNSUPPORTED', `${layer.quantizationType} has no scale or zero point to calibrate`);
  const method = rangeMethodOf(cfg);
  // DYNAMIC_PER_BATCH quantizes each row with its own parameters, so a calibration cannot be per row:
  // it is per tensor (or per channel), as in the other modes, kept for a later switch to CALIBRATED
  // and reported, as the reference's own example (DYNAMIC_PER_BATCH, then calibrate) expects.
  const axis = options.channelDim ?? (cfg.quantizationMode === 'DYNAMIC_PER_BATCH' ? (layer.perChannel ? cfg.channelDim : undefined) : defaultAxis(cfg, layer));
  return {
    cfg,
    layer,
    key: keyOf(layer.layerName),
    method,
    axis,
    symmetric: symmetricFor(cfg, layer),
    observer: createRangeObserver(method, axis),
    tensors: [],
    observedMin: Infinity,
    observedMax: -Infinity,
    anyFinite: false,
  };
}

/** Feeds one batch to the run's observer (all batches must share one shape). */
export function feedCalibration(run: CalibrationRun, batch: TensorInput): void {
  const i = run.tensors.length;
  const t = toFloatTensor(batch, `calibration batch ${i}`);
  if (t.data.length === 0) throw new QuantError('EMPTY_INPUT', `calibration batch ${i} is empty (shape [${t.shape.join(', ')}])`);
  const first = run.tensors[0];
  if (first && (first.shape.length !== t.shape.length || first.shape.some((d, k) => d !== t.shape[k]))) {
    throw new QuantError('SHAPE_MISMATCH', `calibration batch ${i} has shape [${t.shape.join(', ')}] but batch 0 has [${first.shape.join(', ')}]; all batches must have one shape`);
  }
  const layout = blockLayout(t.shape, axisGranularity(run.axis, t.shape.length));
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

/** The run's parameters (the entry to store) and the report of how well they fit the batches. */
export function finishCalibration(run: CalibrationRun): { entry: CalibratedEntry; report: CalibrationReport } {
  if (run.tensors.length === 0) throw new QuantError('EMPTY_INPUT', 'calibrate needs at least one batch, got none');
  const shape = run.tensors[0].shape;
  const granularity = axisGranularity(run.axis, shape.length);
  const count = granularity.kind === 'per-tensor' ? 1 : shape[granularity.axis];
  const range = run.anyFinite ? run.observer.range({ dtype: run.layer.dtype! }) : { min: new Float32Array(count), max: new Float32Array(count) };
  const params = qparamsFromRange(range.min, range.max, shape, { dtype: run.layer.dtype!, symmetric: run.symmetric, granularity });
  const min = Math.min(...range.min);
  const max = Math.max(...range.max);
  const measures = measureCalibration(run.tensors, params, { include: [min, max] });
  const entry: CalibratedEntry = { params, min: range.min, max: range.max, shape: [...shape], method: run.method.name };
  const report: CalibrationReport = {
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
  return { entry, report };
}

/** The batches of a calibrate call: an array or iterable of tensors, or one tensor. */
export function asBatches(batches: TensorInput | Iterable<TensorInput>): Iterable<TensorInput> {
  if (Array.isArray(batches)) return batches as TensorInput[];
  if (batches !== null && typeof batches === 'object' && !ArrayBuffer.isView(batches) && Symbol.iterator in batches) return batches as Iterable<TensorInput>;
  return [batches as TensorInput];
}

export function isAsyncIterable(v: unknown): v is AsyncIterable<TensorInput> {
  return v !== null && typeof v === 'object' && Symbol.asyncIterator in v;
}
