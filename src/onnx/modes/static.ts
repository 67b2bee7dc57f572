import type { NodeProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import type { QParams } from '../../core/qparams.js';
import { onnxDtypeOf } from '../../formats/onnx/onnx-dtypes.js';
import { generateCalibrationInputs, modelInputSpecs } from '../calibration/calibration-inputs.js';
import { calibrate } from '../calibration/calibrate.js';
import type { GraphIndex } from '../graph/graph.js';
import { allGraphs, indexGraph, NameGenerator, resolveConstant } from '../graph/graph.js';
import type { GraphEdit } from '../graph/graph-edit.js';
import { applyEdits } from '../graph/graph-edit.js';
import { opSpecOf } from '../graph/op-specs.js';
import type { OpsetUpgrade } from '../graph/opset-upgrade.js';
import { describeOpsetUpgrade, upgradeOpset } from '../graph/opset-upgrade.js';
import { quantizeBiases } from './qdq-bias.js';
import type { ActivationQuant, OutputRename } from './qdq-activation.js';
import { activationQuant, applyOutputRenames, qdqEdits } from './qdq-activation.js';
import type { QOperatorFusion } from './qoperator.js';
import { fuseQOperator } from './qoperator.js';
import type { QuantizeModeContext, QuantizeModeImpl } from './mode-impl.js';
import type { NodeReport, QuantizeReport } from '../quantize-report.js';
import { nodeName } from '../quantize-report.js';
import { weightOnlyMode } from './weight-only/weight-only.js';

/** How calibration went: where the data came from and where the time went. */
export interface CalibrationSummary {
  readonly observer: string;
  readonly batches: number;
  /** Activations observed (each gets one scale and zero point). */
  readonly tensors: number;
  /** True when no calibration data was given and inputs were generated from the input specs. */
  readonly generatedInputs: boolean;
  /** Milliseconds inside the runtime (onnxruntime's session and runs). */
  readonly runtimeMs: number;
  /** Milliseconds of quantkit's own calibration work (augmenting the model, observers). */
  readonly observeMs: number;
}

export interface StaticQuantizeReport extends QuantizeReport {
  readonly calibration: CalibrationSummary;
  /** Present when the model's opset was raised before quantizing (opset < 10). */
  readonly opsetUpgrade?: OpsetUpgrade;
}

/** What calibration of one node needs. */
interface NodePlan {
  readonly node: NodeProto;
  readonly graph: GraphIndex;
  /** Activations (inputs and outputs) that get Q/DQ. */
  readonly tensors: string[];
}

/**
 * Static quantization, as ONNX Runtime's quantize_static in QDQ format: the model runs on the
 * calibration batches with every activation of the selected ops exposed as an output; one
 * observer per activation (any registered observer that needs no options: minmax, percentile, mse, entropy, ...), merged batch
 * by batch, gives its scale and zero point (int8 asymmetric, or uint8 with dtype uint8); each
 * activation gets one QuantizeLinear → DequantizeLinear pair, and the weights are quantized as the
 * weight-only mode does (int8 symmetric, per channel on request). With format 'qoperator', MatMul
 * and Conv whose input, weight and output are all quantized become QLinearMatMul / QLinearConv.
 * Activations defined inside a subgraph cannot be exposed as model outputs: those stay float and
 * are listed in the warnings. Biases of Conv/ConvTranspose/Gemm become int32 (scale = input scale
 * x weight scale) with quantizeBias, and always where onnxruntime could not load the float form
 * (per-channel weights below opset 13; see quantizeBiases). Models below opset 10 are first raised
 * to opset 11 (upgradeOpset), said in the warnings and opsetUpgrade.
 */
export const staticMode: QuantizeModeImpl = {
  mode: 'static',
  defaultOpTypes: ['MatMul', 'Gemm', 'Conv'],
  async quantize(ctx) {
    return quantizeStatic(ctx);
  },
};

/** True when `name`, read in `g`, is the main graph's (no graph between shadows it). */
function visibleFromMain(g: GraphIndex, name: string): boolean {
  for (let s: GraphIndex | undefined = g; s && s.parent; s = s.parent) {
    if (s.initializers.has(name) || s.inputs.has(name) || s.producers.has(name)) return false;
  }
  return true;
}

function isFloatTensor(root: GraphIndex, name: string): boolean {
  const t = root.valueInfos.get(name)?.type?.value;
  return t?.case !== 'tensorType' || onnxDtypeOf(t.value.elemType) === 'float32';
}

async function quantizeStatic(ctx: QuantizeModeContext): Promise<{ model: typeof ctx.model; report: StaticQuantizeReport }> {
  const { model, options, hooks } = ctx;
  if (options.dtype !== 'int8' && options.dtype !== 'uint8') {
    throw new QuantError('INVALID_CONFIG', `static mode quantizes to int8 or uint8, got dtype ${options.dtype}: use weight-only for 4-bit weights`);
  }
  if (!hooks.runModel) {
    throw new QuantError('INVALID_ARGUMENT', 'static mode runs the model to calibrate: expected hooks.runModel (createOrtRunner from src/node/onnx/ort-runner.ts), got none');
  }
  // QuantizeLinear/DequantizeLinear are opset 10: older models are raised to 11 as onnxruntime's tool does, where no op changes meaning.
  const upgrade = ctx.opset < 10 ? upgradeOpset(model, 11) : undefined;
  const opset = upgrade ? upgrade.to : ctx.opset;
  // The target chose the activation type with the weights' (chooseIntegerTypes); options.integer is set for static mode.
  const actDtype = options.integer?.activations ?? options.dtype;
  const ir = Number(model.irVersion);
  const root = indexGraph(model.graph!);
  const exclude = new Set(options.exclude);
  const floatNodes = new Map<NodeProto, string>();
  const plans: NodePlan[] = [];
  const warnings: string[] = [];
  const order: NodeProto[] = [];
  for (const g of allGraphs(root)) {
    for (const node of g.graph.node) {
      if (!ctx.opTypes.has(node.opType)) continue;
      order.push(node);
      if (node.name && exclude.has(node.name)) {
        floatNodes.set(node, 'excluded by name');
        continue;
      }
      const spec = opSpecOf(node);
      const tensors: string[] = [];
      const hidden: string[] = [];
      const candidates = [...node.input.filter((n, i) => n && i !== spec?.bias && !resolveConstant(g, n, ir)), ...node.output.filter(Boolean)];
      for (const t of candidates) {
        if (!visibleFromMain(g, t)) hidden.push(t);
        else if (isFloatTensor(root, t)) tensors.push(t);
      }
      if (hidden.length) warnings.push(`${nodeName(node)}: activations ${hidden.map((h) => `'${h}'`).join(', ')} live inside a subgraph and cannot be calibrated: they stay float`);
      if (tensors.length === 0 && !spec) {
        floatNodes.set(node, 'no float activation visible to calibration and no weight');
        continue;
      }
      plans.push({ node, graph: g, tensors });
    }
  }
  const tensors = [...new Set(plans.flatMap((p) => p.tensors))];

  let generated = false;
  let batches = hooks.calibrationData?.();
  if (!batches) {
    generated = true;
    batches = generateCalibrationInputs(modelInputSpecs(model));
    warnings.push('NO CALIBRATION DATA: activation ranges come from generated inputs (uniform in [-1, 1), integers 0), not real data; give calibration data for a usable model');
  }
  // Arrays, and iterables that carry a length (readCalibrationDir's), give progress a total.
  const length = (batches as { length?: unknown }).length;
  const total = typeof length === 'number' ? length : 0;
  const cal = tensors.length
    ? await calibrate(model, tensors, { runModel: hooks.runModel, batches, observer: options.observer, total, ...(hooks.onProgress && { onProgress: hooks.onProgress }) })
    : { observers: new Map(), batches: 0, runtimeMs: 0, observeMs: 0 };
  const qparams = new Map<string, QParams>();
  for (const [t, o] of cal.observers) qparams.set(t, o.qparams({ dtype: actDtype, symmetric: false }));

  // Weights as the weight-only mode writes them (DequantizeLinear feeding the op); biases stay float.
  const weightOps = new Set([...ctx.opTypes].filter((t) => plans.some((p) => p.node.opType === t && opSpecOf(p.node))));
  const weights = await weightOnlyMode.quantize({ ...ctx, opset, options: { ...options, mode: 'weight-only', quantizeBias: false, int8Form: 'dequantize-linear' }, opTypes: weightOps });

  const root2 = indexGraph(model.graph!);
  const names = new NameGenerator(root2);
  const acts = new Map<string, ActivationQuant>();
  for (const t of tensors) {
    const p = qparams.get(t);
    if (p) acts.set(t, activationQuant(t, actDtype, p.scale[0]!, p.zeroPoint[0]!, names));
  }
  const fusions = new Map<NodeProto, Extract<QOperatorFusion, { ok: true }>>();
  const fusionReasons = new Map<NodeProto, string>();
  if (options.format === 'qoperator') {
    for (const p of plans) {
      if (p.graph !== root) continue;
      const f = fuseQOperator(root2, p.node, acts, ir, names);
      if (f.ok) fusions.set(p.node, f);
      else fusionReasons.set(p.node, f.reason);
    }
  }
  const integerReaders = new Map<string, Set<NodeProto>>();
  const producedQuantized = new Set<string>();
  for (const node of fusions.keys()) {
    const x = node.input[0]!;
    if (!integerReaders.has(x)) integerReaders.set(x, new Set());
    integerReaders.get(x)!.add(node);
    producedQuantized.add(node.output[0]!);
  }
  const edits: GraphEdit[] = [];
  const renames: OutputRename[] = [];
  for (const a of acts.values()) {
    const q = qdqEdits(root2, a, { producedQuantized: producedQuantized.has(a.tensor), integerReaders: integerReaders.get(a.tensor) ?? new Set() }, names);
    edits.push(...q.edits);
    renames.push(...q.renames);
  }
  const fusedSet = new Set<NodeProto>(fusions.keys());
  const removedDq = new Set<NodeProto>();
  const removedBias = new Set<string>();
  for (const [node, f] of fusions) {
    edits.push({ kind: 'replace-node', graph: root2.graph, node, nodes: [f.node] });
    for (const t of f.initializers) edits.push({ kind: 'add-initializer', graph: root2.graph, tensor: t });
    const w = f.weightDequantize.output[0]!;
    const readers = root2.consumers.get(w) ?? [];
    const nested = root2.children.some((c) => allGraphs(c).some((s) => s.consumers.has(w)));
    if (!removedDq.has(f.weightDequantize) && !root2.outputs.has(w) && !nested && readers.every((r) => fusedSet.has(r))) {
      removedDq.add(f.weightDequantize);
      edits.push({ kind: 'remove-node', graph: root2.graph, node: f.weightDequantize });
    }
    // A float bias replaced by QLinearConv's int32 copy goes when no other node reads it.
    const b = node.input[2];
    if (b && f.initializers.length && root2.initializers.has(b) && !root2.outputs.has(b) && !removedBias.has(b)) {
      const others = (root2.consumers.get(b) ?? []).some((r) => !fusedSet.has(r)) || root2.children.some((c) => allGraphs(c).some((s) => s.consumers.has(b)));
      if (!others) {
        removedBias.add(b);
        edits.push({ kind: 'remove-initializer', graph: root2.graph, name: b });
      }
    }
  }
  const biases = quantizeBiases(root2, plans.filter((p) => p.graph === root).map((p) => p.node), fusions, acts, { quantizeBias: options.quantizeBias, opset, ir }, names);
  edits.push(...biases.edits);
  warnings.push(...biases.warnings);
  applyEdits(model, edits);
  applyOutputRenames(renames);

  const weightReports = new Map(weights.report.nodes.map((r) => [r.node, r]));
  const nodes: NodeReport[] = [];
  for (const node of order) {
    const label = nodeName(node);
    const why = floatNodes.get(node);
    if (why) {
      nodes.push({ node: label, opType: node.opType, status: 'float', reason: why });
      continue;
    }
    const plan = plans.find((p) => p.node === node)!;
    const quantActs = plan.tensors.filter((t) => acts.has(t));
    const w = weightReports.get(label);
    const wq = w?.status === 'quantized' ? w : undefined;
    if (!quantActs.length && !wq) {
      nodes.push({ node: label, opType: node.opType, status: 'float', reason: w?.status === 'float' ? w.reason : 'nothing to quantize' });
      continue;
    }
    const fusion = fusions.get(node);
    nodes.push({
      node: label,
      opType: node.opType,
      status: 'quantized',
      tensors: [...(wq?.tensors ?? []), ...(biases.quantized.get(node) ?? []), ...quantActs],
      dtype: options.dtype,
      granularity: wq?.granularity ?? 'per-tensor',
      ...(wq?.axis !== undefined && { axis: wq.axis }),
      form: fusion ? fusion.node.opType : 'QDQ',
    });
    const reason = fusionReasons.get(node);
    if (reason) warnings.push(`${label} stays in QDQ form: ${reason}`);
  }
  const calibration: CalibrationSummary = {
    observer: options.observer,
    batches: cal.batches,
    tensors: cal.observers.size,
    generatedInputs: generated,
    runtimeMs: cal.runtimeMs,
    observeMs: cal.observeMs,
  };
  return {
    model,
    report: {
      mode: 'static',
      dtype: options.dtype,
      nodes,
      weightBytesBefore: weights.report.weightBytesBefore,
      weightBytesAfter: weights.report.weightBytesAfter,
      warnings: [...(upgrade ? [describeOpsetUpgrade(upgrade, 'QuantizeLinear/DequantizeLinear need opset 10')] : []), ...weights.report.warnings, ...warnings],
      ...(options.integer && { integer: options.integer }),
      calibration,
      ...(upgrade && { opsetUpgrade: upgrade }),
    },
  };
}
