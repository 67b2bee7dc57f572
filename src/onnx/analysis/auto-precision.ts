import type { ModelProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { encodeModel } from '../../formats/onnx/model.js';
import type { OutputMetrics } from './compare-metrics.js';
import type { BatchSource } from './compare-models.js';
import { measureAgainst } from './compare-models.js';
import { quantizeWithPrecisions } from './auto-precision-model.js';
import type { PrecisionMove } from './auto-precision-plan.js';
import { planPrecisionMoves, precisionsAfter, predictedSteps } from './auto-precision-plan.js';
import type { MetricFigure } from '../metrics/metric.js';
import { parseMetric } from '../metrics/metric-options.js';
import type { QuantizeReport } from '../quantize-report.js';
import type { RunModel } from '../run-model.js';
import type { LayerPrecision, QuantizedPrecision } from './sensitivity-layers.js';
import type { SensitivityOptions, SensitivityReport } from './sensitivity.js';
import { analyzeSensitivity } from './sensitivity.js';

/** What automatic precision chose for one layer, and why. */
export interface LayerChoice {
  readonly node: string;
  readonly opType: string;
  readonly precision: LayerPrecision;
  /** The model's error with this layer alone quantized (sensitivity), per precision measured. */
  readonly isolatedError: Readonly<Partial<Record<QuantizedPrecision, number>>>;
  /** Float bytes of the layer's weights and bytes at the chosen precision (equal when float). */
  readonly weightBytesBefore: number;
  readonly weightBytesAfter: number;
  readonly reason: string;
}

export interface AutoPrecisionReport {
  readonly version: 2;
  /** The bound E on the metric. */
  readonly maxError: number;
  /** What the error is: rel-rms (max relative RMS error over the outputs), kl, ctc, accuracy, or a custom metric's name. */
  readonly metric: string;
  /** The metric of the float model against itself (sensitivity's baseline): 0 but for accuracy and custom metrics. */
  readonly baseline: number;
  /** The verified error of the chosen model against the float model, its per-output figures, and the metric per output. */
  readonly error: number;
  readonly outputs: readonly OutputMetrics[];
  readonly figures: readonly MetricFigure[];
  /** Predicted error of the chosen steps, baseline + √Σ isolated squared excesses over it. */
  readonly predictedError: number;
  /** False only when even the float model (k = 0) misses the bound: accuracy against labels it gets wrong, say. */
  readonly withinBound: boolean;
  /** Steps taken out of those planned, and every model that was built and measured on the way. */
  readonly steps: number;
  readonly plannedSteps: number;
  readonly verifications: readonly { readonly steps: number; readonly error: number; readonly accepted: boolean }[];
  readonly counts: Readonly<Record<LayerPrecision, number>>;
  readonly weightBytesBefore: number;
  readonly weightBytesAfter: number;
  readonly layers: readonly LayerChoice[];
  readonly sensitivity: SensitivityReport;
}

export interface AutoPrecisionOptions extends SensitivityOptions {
  /** Bound on the metric (options.metric; default rel-rms, the max over outputs of the relative RMS error); a finite number ≥ 0. */
  readonly maxError: number;
}

const ordinal = (n: number) => `#${n}`;

/**
 * Picks per-layer precision (int4, int8 or float, weight-only) for the smallest model whose
 * error against the float model, by options.metric (default rel-rms), stays at most maxError:
 * 1. sensitivity: each layer's error alone at int8 and int4 (analyzeSensitivity);
 * 2. plan: each layer's steps float → int8 → int4 along the lower hull of (bytes saved, excess²),
 *    the excess being the error above the float model's own (the baseline: 0 but for accuracy
 *    and custom metrics), all layers' steps sorted by excess² added per byte saved (planPrecisionMoves);
 * 3. verify: the first k steps are built and measured, starting at the k whose predicted error
 *    √Σ error² fits, then a binary search for the largest k whose measured error fits (the error
 *    grows with k in practice; every model returned has been measured). k = 0 is the float model.
 * The returned model is always one that was measured within maxError, or the float model when
 * even it is not (withinBound false: accuracy against labels the float model misses, say).
 */
export async function autoPrecision(
  model: ModelProto,
  runModel: RunModel,
  batches: BatchSource,
  options: AutoPrecisionOptions,
): Promise<{ model: ModelProto; report: AutoPrecisionReport; quantizeReport: QuantizeReport }> {
  const maxError = options.maxError;
  if (typeof maxError !== 'number' || !Number.isFinite(maxError) || maxError < 0) {
    throw new QuantError('INVALID_ARGUMENT', `max error must be a finite number >= 0 (a bound on the metric, e.g. 0.01 for a 1% relative RMS error), got ${String(maxError)}`);
  }
  const metric = parseMetric(options.metric);
  const { report: sensitivity, context } = await analyzeSensitivity(model, runModel, batches, { ...options, metric });
  const baseline = context.baseline;
  const moves = planPrecisionMoves(sensitivity.layers, baseline);
  const layerNames = [...sensitivity.layers.map((l) => l.node), ...sensitivity.skipped.map((l) => l.node)];

  type Built = { model: ModelProto; quantizeReport: QuantizeReport; outputs: OutputMetrics[]; figures: readonly MetricFigure[]; error: number };
  const built = new Map<number, Built>();
  const verifications: { steps: number; error: number; accepted: boolean }[] = [];
  const build = async (k: number): Promise<Built> => {
    const cached = built.get(k);
    if (cached) return cached;
    const q = await quantizeWithPrecisions(context.model, precisionsAfter(moves, k), layerNames, options);
    const m = await measureAgainst(context.reference, runModel, encodeModel(q.model), batches, context.outputs, context.measure);
    const b = { model: q.model, quantizeReport: q.report, outputs: m.outputs, figures: m.metric.figures, error: m.metric.value };
    built.set(k, b);
    verifications.push({ steps: k, error: b.error, accepted: b.error <= maxError });
    options.onProgress?.({ phase: 'verify', done: verifications.length, total: verifications.length });
    return b;
  };
  const fits = async (k: number) => (await build(k)).error <= maxError;

  const planned = predictedSteps(moves, maxError, baseline);
  let lo = 0;
  let hi = moves.length;
  if (planned > 0) {
    if (await fits(planned)) lo = planned;
    else hi = planned - 1;
  }
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (await fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  const chosen = await build(lo);
  const precisions = precisionsAfter(moves, lo);
  const predictedError = baseline + Math.sqrt(moves.slice(0, lo).reduce((s, m) => s + m.addedSquaredError, 0));
  const layers = sensitivity.layers.map((l) => explain(l, precisions.get(l.node) ?? 'float', moves, lo, maxError));
  for (const s of sensitivity.skipped) {
    layers.push({ node: s.node, opType: s.opType, precision: 'float', isolatedError: {}, weightBytesBefore: 0, weightBytesAfter: 0, reason: `not quantizable: ${s.reason}` });
  }
  const counts = { int4: 0, int8: 0, float: 0 };
  for (const l of layers) counts[l.precision]++;
  return {
    model: chosen.model,
    quantizeReport: chosen.quantizeReport,
    report: {
      version: 2,
      maxError,
      metric: sensitivity.metric,
      baseline,
      error: chosen.error,
      outputs: chosen.outputs,
      figures: chosen.figures,
      predictedError,
      withinBound: chosen.error <= maxError,
      steps: lo,
      plannedSteps: planned,
      verifications,
      counts,
      weightBytesBefore: layers.reduce((s, l) => s + l.weightBytesBefore, 0),
      weightBytesAfter: layers.reduce((s, l) => s + l.weightBytesAfter, 0),
      layers,
      sensitivity,
    },
  };
}

function explain(layer: SensitivityReport['layers'][number], precision: LayerPrecision, moves: readonly PrecisionMove[], taken: number, maxError: number): LayerChoice {
  const isolatedError: Partial<Record<QuantizedPrecision, number>> = {};
  let floatBytes = 0;
  for (const p of ['int8', 'int4'] as const) {
    const r = layer.results[p];
    if (r?.status === 'measured') {
      isolatedError[p] = r.error;
      floatBytes = r.weightBytesBefore;
    }
  }
  const chosen = precision === 'float' ? undefined : layer.results[precision];
  const after = chosen?.status === 'measured' ? chosen.weightBytesAfter : floatBytes;
  const fmt = (e: number) => (e === 0 ? '0' : e.toPrecision(3));
  const alone = Object.entries(isolatedError).map(([p, e]) => `${p} alone: error ${fmt(e)}`).join(', ');
  const index = moves.findIndex((m, i) => i >= taken && m.node === layer.node);
  const lastTaken = moves.reduce((last, m, i) => (i < taken && m.node === layer.node ? i : last), -1);
  const parts: string[] = [];
  if (alone) parts.push(alone);
  for (const p of ['int8', 'int4'] as const) {
    const r = layer.results[p];
    if (r?.status === 'not-applicable') parts.push(`${p} not applicable: ${r.reason}`);
  }
  if (lastTaken >= 0) parts.push(`its step ${ordinal(lastTaken + 1)} of ${moves.length} (cheapest error per byte saved first) is among the ${taken} kept`);
  if (index >= 0) {
    const next = moves[index]!;
    parts.push(`the next step (${next.from} -> ${next.to}, ${ordinal(index + 1)}) is past the ${taken} steps whose verified error stayed within E = ${maxError}`);
  } else if (precision === 'float' && lastTaken < 0) {
    parts.push('quantizing it saves no bytes at a finite error');
  }
  return {
    node: layer.node,
    opType: layer.opType,
    precision,
    isolatedError,
    weightBytesBefore: floatBytes,
    weightBytesAfter: after,
    reason: `${precision}: ${parts.join('; ')}`,
  };
}
