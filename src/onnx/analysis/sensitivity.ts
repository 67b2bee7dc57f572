import type { ModelProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { encodeModel } from '../../formats/onnx/model.js';
import type { BatchSource } from './compare-models.js';
import type { MeasureContext } from './compare-models.js';
import { collectOutputs, measureAgainst, measureBaseline, metricTarget } from './compare-models.js';
import type { MetricInput } from '../metrics/metric-options.js';
import { metricName, parseMetric } from '../metrics/metric-options.js';
import { checkMetricOutputs } from '../metrics/metric-registry.js';
import { quantizeModel } from '../quantize-model.js';
import type { ProgressEvent, RunModel, TensorMap } from '../run-model.js';
import type { LayerQuantOptions, QuantizedPrecision } from './sensitivity-layers.js';
import { precisionOptions, withNodeNames } from './sensitivity-layers.js';

/** The model's error when one layer alone is quantized at one precision. */
export type PrecisionResult =
  | {
      readonly status: 'measured';
      /** The chosen metric against the float model (default rel-rms: the largest relative RMS error over the outputs). */
      readonly error: number;
      /** The smallest cosine similarity over the outputs. */
      readonly cosine: number;
      /** Float bytes of the layer's weights, and the bytes of what replaced them. */
      readonly weightBytesBefore: number;
      readonly weightBytesAfter: number;
      /** The ONNX form written (DequantizeLinear, com.microsoft.MatMulNBits, ...). */
      readonly form: string;
    }
  | { readonly status: 'not-applicable'; readonly reason: string };

export interface LayerSensitivity {
  readonly node: string;
  readonly opType: string;
  readonly results: Readonly<Partial<Record<QuantizedPrecision, PrecisionResult>>>;
}

export interface SensitivityReport {
  /** The metric the errors are (its name: rel-rms, kl, ctc, accuracy, or a custom metric's). */
  readonly metric: string;
  /** The metric of the float model against itself (0 but for accuracy and custom metrics): what a layer's error adds to. */
  readonly baseline: number;
  /** The precisions measured, in the order given; the first one ranks the layers. */
  readonly precisions: readonly QuantizedPrecision[];
  /** Layers, most sensitive first: by the error at precisions[0], then at the next, ...; not-applicable sorts last. */
  readonly layers: readonly LayerSensitivity[];
  /** Nodes of the selected op types that no precision could quantize, with the reasons. */
  readonly skipped: readonly { readonly node: string; readonly opType: string; readonly reason: string }[];
  readonly batches: number;
}

export interface SensitivityOptions extends LayerQuantOptions {
  /** Default ['int8', 'int4']. */
  readonly precisions?: readonly QuantizedPrecision[];
  /** What a layer's error is measured by (parseMetric); default rel-rms. */
  readonly metric?: MetricInput;
  readonly onProgress?: (event: ProgressEvent) => void;
}

/** What a sensitivity run keeps for automatic precision: the named model and the reference outputs. */
export interface SensitivityContext {
  readonly model: ModelProto;
  readonly reference: readonly TensorMap[];
  readonly outputs: readonly string[];
  readonly measure: MeasureContext;
  readonly baseline: number;
}

/** The error of one layer for ranking: lower precisions that do not apply count as -1 (least sensitive is not claimed). */
function rankKey(l: LayerSensitivity, precisions: readonly QuantizedPrecision[]): number[] {
  return precisions.map((p) => {
    const r = l.results[p];
    return r?.status === 'measured' ? r.error : -1;
  });
}

/**
 * Per layer (node of the selected op types, weight-only), the model's output error (options.metric,
 * validated here; default rel-rms) when that layer alone is quantized at each precision, all others float; the layers ranked most sensitive first.
 * The float model runs once for reference outputs; each (layer, precision) is one quantization and
 * one run. A precision that cannot apply to a layer (4-bit Conv below opset 21, say) is listed as
 * not-applicable with quantizeModel's reason.
 */
export async function analyzeSensitivity(
  model: ModelProto,
  runModel: RunModel,
  batches: BatchSource,
  options: SensitivityOptions = {},
): Promise<{ report: SensitivityReport; context: SensitivityContext }> {
  const precisions = options.precisions ?? ['int8', 'int4'];
  if (precisions.length === 0) throw new QuantError('INVALID_ARGUMENT', 'expected at least one precision to measure (int8, int4), got none');
  const metric = parseMetric(options.metric);
  checkMetricOutputs(metric, metricTarget(model, 0));
  const named = withNodeNames(model);
  const dry = new Map<QuantizedPrecision, Awaited<ReturnType<typeof quantizeModel>>['report']>();
  for (const p of precisions) dry.set(p, (await quantizeModel(named, precisionOptions(p, options, []))).report);

  const order: { node: string; opType: string }[] = [];
  const quantizable = new Map<string, Set<QuantizedPrecision>>();
  const reasons = new Map<string, string[]>();
  for (const p of precisions) {
    for (const n of dry.get(p)!.nodes) {
      if (!quantizable.has(n.node)) {
        quantizable.set(n.node, new Set());
        reasons.set(n.node, []);
        order.push({ node: n.node, opType: n.opType });
      }
      if (n.status === 'quantized') quantizable.get(n.node)!.add(p);
      else reasons.get(n.node)!.push(`${p}: ${n.reason}`);
    }
  }
  const layers = order.filter((l) => quantizable.get(l.node)!.size > 0);
  const skipped = order.filter((l) => quantizable.get(l.node)!.size === 0).map((l) => ({ ...l, reason: reasons.get(l.node)!.join('; ') }));

  const outputs = named.graph!.output.map((v) => v.name);
  const reference = await collectOutputs(runModel, encodeModel(named), batches, outputs);
  if (reference.length === 0) throw new QuantError('EMPTY_INPUT', 'no input batches to measure sensitivity on');
  const measure: MeasureContext = { metric, target: metricTarget(named, reference.length) };
  const baseline = (await measureBaseline(reference, outputs, measure)).metric.value;
  const names = layers.map((l) => l.node);
  const total = layers.reduce((s, l) => s + quantizable.get(l.node)!.size, 0);
  let done = 0;
  const measured: LayerSensitivity[] = [];
  for (const layer of layers) {
    const results: Partial<Record<QuantizedPrecision, PrecisionResult>> = {};
    for (const p of precisions) {
      const reportNode = dry.get(p)!.nodes.find((n) => n.node === layer.node)!;
      if (reportNode.status === 'float') {
        results[p] = { status: 'not-applicable', reason: reportNode.reason };
        continue;
      }
      const others = names.filter((n) => n !== layer.node);
      const q = await quantizeModel(named, precisionOptions(p, options, others));
      const measured = await measureAgainst(reference, runModel, encodeModel(q.model), batches, outputs, measure);
      results[p] = {
        status: 'measured',
        error: measured.metric.value,
        cosine: Math.min(...measured.outputs.map((m) => m.cosine)),
        weightBytesBefore: q.report.weightBytesBefore,
        weightBytesAfter: q.report.weightBytesAfter,
        form: reportNode.form,
      };
      options.onProgress?.({ phase: 'sensitivity', done: ++done, total });
    }
    measured.push({ ...layer, results });
  }
  measured.sort((x, y) => {
    const kx = rankKey(x, precisions);
    const ky = rankKey(y, precisions);
    for (let i = 0; i < kx.length; i++) if (kx[i] !== ky[i]) return ky[i]! > kx[i]! ? 1 : -1;
    return 0;
  });
  return {
    report: { metric: metricName(metric), baseline, precisions, layers: measured, skipped, batches: reference.length },
    context: { model: named, reference, outputs, measure, baseline },
  };
}
