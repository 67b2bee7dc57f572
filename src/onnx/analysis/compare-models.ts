import { clone, create } from '@bufbuild/protobuf';
import type { ModelProto } from 'onnx-buf';
import { ModelProtoSchema, ValueInfoProtoSchema } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { encodeModel } from '../../formats/onnx/model.js';
import type { OutputMetrics } from './compare-metrics.js';
import { isClassifierLike, OutputMetricsAccumulator } from './compare-metrics.js';
import type { MetricFigure, MetricResult, MetricTarget } from '../metrics/metric.js';
import type { MetricInput, MetricSpec } from '../metrics/metric-options.js';
import { parseMetric } from '../metrics/metric-options.js';
import { checkMetricOutputs, createMetricEvaluator } from '../metrics/metric-registry.js';
import { isSpecifiedOpType } from '../graph/op-specs.js';
import { nodeName } from '../quantize-report.js';
import type { RunModel, TensorMap } from '../run-model.js';

/** Where comparison inputs come from: each call starts a fresh iteration over the same batches. */
export type BatchSource = () => Iterable<TensorMap> | AsyncIterable<TensorMap>;

/** Error at the output of one layer (an op with weights, OP_SPECS) of the reference, when the candidate has a tensor of the same name. */
export interface LayerMetrics {
  readonly node: string;
  readonly opType: string;
  /** The layer's first output, compared by name in both models. */
  readonly output: string;
  readonly relativeRmsError: number;
  readonly cosine: number;
  readonly sqnrDb: number;
  readonly maxAbsError: number;
}

export interface ModelComparison {
  /** Per graph output, in the reference's output order. */
  readonly outputs: readonly OutputMetrics[];
  /** What `error` is: rel-rms (the default: the largest relative RMS error over the outputs), kl, ctc, accuracy, or a custom metric's name. */
  readonly metric: string;
  /** The metric's value: lower is better. */
  readonly error: number;
  /** The metric per output it covers, with what it was computed from (none for a custom metric). */
  readonly figures: readonly MetricFigure[];
  readonly batches: number;
  /** Per layer, in the reference's node order; empty when layers were not asked for. */
  readonly layers: readonly LayerMetrics[];
}

export interface CompareOptions {
  /** Also compare each layer's output (exposed as extra graph outputs of both models). Default true. */
  readonly layers?: boolean;
  /** What the comparison is judged by (parseMetric); default rel-rms. */
  readonly metric?: MetricInput;
}

/** Graph inputs that must be fed (initializers listed as inputs are optional), sorted. */
function feedNames(model: ModelProto): string[] {
  const g = model.graph!;
  const inits = new Set(g.initializer.map((t) => t.name));
  return g.input.map((v) => v.name).filter((n) => !inits.has(n)).sort();
}

function outputNames(model: ModelProto): string[] {
  return model.graph!.output.map((v) => v.name);
}

/** Names of the graph outputs produced by an ONNX-domain node of one of `opTypes`. */
function outputsOf(model: ModelProto, opTypes: readonly string[]): Set<string> {
  const out = new Set<string>();
  const names = new Set(outputNames(model));
  for (const n of model.graph!.node) {
    if ((n.domain === '' || n.domain === 'ai.onnx') && opTypes.includes(n.opType)) {
      for (const o of n.output) if (names.has(o)) out.add(o);
    }
  }
  return out;
}

/** Names of the graph outputs produced by Softmax or LogSoftmax (class scores, see isClassifierLike). */
export function softmaxOutputs(model: ModelProto): Set<string> {
  return outputsOf(model, ['Softmax', 'LogSoftmax']);
}

/** What a metric needs to know of the reference model (`batches` of the pass it is measured on). */
export function metricTarget(model: ModelProto, batches: number): MetricTarget {
  return { outputs: outputNames(model), softmax: softmaxOutputs(model), probabilities: outputsOf(model, ['Softmax']), batches };
}

/**
 * Checks that two models can be compared output by output: the same graph outputs (by name, in any
 * order) and the same required inputs. Throws INVALID_ARGUMENT naming the difference.
 */
export function checkComparable(a: ModelProto, b: ModelProto, labels: readonly [string, string] = ['A', 'B']): void {
  const diff = (x: string[], y: string[]) => x.filter((n) => !y.includes(n));
  const oa = outputNames(a);
  const ob = outputNames(b);
  if (diff(oa, ob).length || diff(ob, oa).length) {
    throw new QuantError('INVALID_ARGUMENT', `models with different outputs cannot be compared: expected the same output names, got ${labels[0]}: ${oa.join(', ')} and ${labels[1]}: ${ob.join(', ')}`);
  }
  const ia = feedNames(a);
  const ib = feedNames(b);
  if (diff(ia, ib).length || diff(ib, ia).length) {
    throw new QuantError('INVALID_ARGUMENT', `models with different inputs cannot be compared: expected the same input names, got ${labels[0]}: ${ia.join(', ')} and ${labels[1]}: ${ib.join(', ')}`);
  }
}

interface Layer {
  readonly node: string;
  readonly opType: string;
  readonly output: string;
}

/** Layers of `a` (main-graph nodes of ops with weights) whose first output `b` also computes, except graph outputs. */
function sharedLayers(a: ModelProto, b: ModelProto): Layer[] {
  const produced = new Set(b.graph!.node.flatMap((n) => n.output));
  const outputs = new Set([...outputNames(a), ...outputNames(b)]);
  const layers: Layer[] = [];
  for (const n of a.graph!.node) {
    const out = n.output[0];
    if (!out || !isSpecifiedOpType(n.opType) || outputs.has(out) || !produced.has(out)) continue;
    layers.push({ node: nodeName(n), opType: n.opType, output: out });
  }
  return layers;
}

/** A copy of `model` with `names` added as graph outputs (types left for the runtime to infer). */
export function withExtraOutputs(model: ModelProto, names: readonly string[]): ModelProto {
  const copy = clone(ModelProtoSchema, model);
  for (const name of names) copy.graph!.output.push(create(ValueInfoProtoSchema, { name }));
  return copy;
}

/** Runs a model over every batch and keeps all outputs (the reference side of a comparison). */
export async function collectOutputs(runModel: RunModel, model: Uint8Array, batches: BatchSource, names?: readonly string[]): Promise<TensorMap[]> {
  const out: TensorMap[] = [];
  await runModel(model, batches(), (o, i) => {
    out[i] = o;
  }, names);
  return out;
}

/** A candidate measured against the reference: figures per output, and the chosen metric. */
export interface Measurement {
  readonly outputs: OutputMetrics[];
  readonly metric: MetricResult;
}

/** How measureAgainst judges: the metric (validated) and what it knows of the reference model. */
export interface MeasureContext {
  readonly metric: MetricSpec;
  readonly target: MetricTarget;
  /** Extra outputs that are layers (intermediate tensors): never given top-k figures. */
  readonly layerNames?: ReadonlySet<string>;
}

/** Accumulates (reference, candidate) batches into per-output figures and the metric. */
function measurer(names: readonly string[], context: MeasureContext) {
  const acc = new Map<string, OutputMetricsAccumulator>();
  const metric = createMetricEvaluator(context.metric, context.target);
  return {
    async add(ref: TensorMap, outputs: TensorMap, i: number): Promise<void> {
      for (const name of names) {
        const r = ref[name];
        const c = outputs[name];
        if (!r || !c) throw new QuantError('INVALID_ARGUMENT', `output '${name}' is missing from the ${r ? 'candidate' : 'reference'}'s results of batch ${i + 1}`);
        let a = acc.get(name);
        if (!a) acc.set(name, (a = new OutputMetricsAccumulator(name, !context.layerNames?.has(name) && isClassifierLike(r.dims, context.target.softmax.has(name)))));
        a.add(r, c);
      }
      await metric.add(ref, outputs, i);
    },
    result(): Measurement {
      const outputs = names.map((n) => acc.get(n)!.result());
      return { outputs, metric: metric.result(outputs) };
    },
  };
}

/**
 * Runs `candidate` over the batches and measures each of `names` against the stored reference
 * outputs of the same batch (OutputMetrics), and the graph outputs by the context's metric.
 */
export async function measureAgainst(
  reference: readonly TensorMap[],
  runModel: RunModel,
  candidate: Uint8Array,
  batches: BatchSource,
  names: readonly string[],
  context: MeasureContext,
): Promise<Measurement> {
  const m = measurer(names, context);
  let count = 0;
  await runModel(candidate, batches(), async (outputs, i) => {
    const ref = reference[i];
    if (!ref) throw new QuantError('INVALID_ARGUMENT', `the candidate ran batch ${i + 1} but the reference ran only ${reference.length}: the batch source must give the same batches on every pass`);
    count = Math.max(count, i + 1);
    await m.add(ref, outputs, i);
  });
  if (count !== reference.length) throw new QuantError('INVALID_ARGUMENT', `the candidate ran ${count} batches but the reference ran ${reference.length}: the batch source must give the same batches on every pass`);
  if (count === 0) throw new QuantError('EMPTY_INPUT', 'no input batches to compare the models on');
  return m.result();
}

/**
 * The metric of the reference against itself: 0 for rel-rms, kl and ctc, the reference's own
 * error rate for accuracy, whatever a custom metric says. Automatic precision plans on what a
 * layer adds to it.
 */
export async function measureBaseline(reference: readonly TensorMap[], names: readonly string[], context: MeasureContext): Promise<Measurement> {
  const m = measurer(names, context);
  for (const [i, ref] of reference.entries()) await m.add(ref, ref, i);
  return m.result();
}

/**
 * Compares candidate `b` with reference `a` on the same inputs: per-output metrics (see
 * OutputMetrics), the chosen metric (options.metric, validated here; default rel-rms) as the error, and per-layer metrics where both models compute a layer's
 * output under the same name (weight-only quantization keeps them). The models are not modified.
 */
export async function compareModels(a: ModelProto, b: ModelProto, runModel: RunModel, batches: BatchSource, options: CompareOptions = {}): Promise<ModelComparison> {
  const metric = parseMetric(options.metric);
  checkComparable(a, b);
  checkMetricOutputs(metric, metricTarget(a, 0));
  const outputs = outputNames(a);
  const layers = options.layers === false ? [] : sharedLayers(a, b);
  const extra = layers.map((l) => l.output);
  const encode = (m: ModelProto) => encodeModel(extra.length ? withExtraOutputs(m, extra) : m);
  const names = [...outputs, ...extra];
  const reference = await collectOutputs(runModel, encode(a), batches, names);
  const measured = await measureAgainst(reference, runModel, encode(b), batches, names, { metric, target: metricTarget(a, reference.length), layerNames: new Set(extra) });
  const byName = new Map(measured.outputs.map((m) => [m.name, m]));
  return {
    metric: measured.metric.metric,
    outputs: outputs.map((n) => byName.get(n)!),
    error: measured.metric.value,
    figures: measured.metric.figures,
    batches: reference.length,
    layers: layers.map((l) => {
      const m = byName.get(l.output)!;
      return { ...l, relativeRmsError: m.relativeRmsError, cosine: m.cosine, sqnrDb: m.sqnrDb, maxAbsError: m.maxAbsError };
    }),
  };
}
