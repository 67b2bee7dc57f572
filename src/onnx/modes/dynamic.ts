import type { GraphProto, NodeProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { makeNode } from '../../formats/onnx/builders.js';
import type { GraphIndex } from '../graph/graph.js';
import { allGraphs, indexGraph, NameGenerator, resolveConstant, usesOf } from '../graph/graph.js';
import type { GraphEdit } from '../graph/graph-edit.js';
import { applyEdits } from '../graph/graph-edit.js';
import { lowerDynamicRecurrent, RECURRENT_OPS } from './dynamic-lstm.js';
import type { DynamicActivation, DynamicWeightCache } from './dynamic-node.js';
import { lowerDynamic } from './dynamic-node.js';
import type { OpsetUpgrade } from '../graph/opset-upgrade.js';
import { describeOpsetUpgrade, upgradeOpset } from '../graph/opset-upgrade.js';
import type { QuantizeModeContext, QuantizeModeImpl } from './mode-impl.js';
import { isSymmetric } from '../quantize-options.js';
import type { NodeReport, QuantizeReport } from '../quantize-report.js';
import { nodeName } from '../quantize-report.js';

/**
 * Dynamic quantization, as ONNX Runtime's quantize_dynamic: weights become int8 (symmetric,
 * −127..127) or uint8 (asymmetric) initializers, per column for MatMul/Gemm when perChannel; each
 * activation feeding a quantized op goes through one DynamicQuantizeLinear (uint8, range measured
 * at run time per inference) shared by all its quantized consumers; MatMul and Gemm become
 * MatMulInteger and Conv ConvInteger, followed by Cast to float and Mul by A_scale · W_scale (and
 * the bias Add). Ops that cannot be lowered stay float and are listed with the reason. A weight
 * read by several nodes is quantized once. DynamicQuantizeLinear is opset 11: an older model is
 * first raised to opset 11 (upgradeOpset: only when no op in it changes meaning, its attribute-to-
 * input changes rewritten), which the report's warnings and opsetUpgrade say.
 */
export const dynamicMode: QuantizeModeImpl = {
  mode: 'dynamic',
  // Conv is measured, not assumed: on the OCR models ConvInteger runs 3-6x the float latency (it
  // has no fused kernel in onnxruntime) and reads no better than float Conv (character accuracy
  // 0.995 against 1.000 on the recognizer), so dynamic mode is for the MatMul/recurrent layers.
  defaultOpTypes: ['MatMul', 'Gemm', 'LSTM', 'GRU', 'RNN'],
  notByDefault: {
    Conv: 'dynamic mode leaves Conv float by default: onnxruntime runs ConvInteger unfused, 3-6x the float latency on the OCR models, for no accuracy gain; --op-types MatMul,Gemm,Conv quantizes it, or use --mode static (QLinearConv) or weight-only',
  },
  async quantize(ctx) {
    return quantizeDynamic(ctx);
  },
};

/** A dynamic or static report; opsetUpgrade is present when the model's opset was raised first. */
export interface DynamicQuantizeReport extends QuantizeReport {
  readonly opsetUpgrade?: OpsetUpgrade;
}

function quantizeDynamic(ctx: QuantizeModeContext): { model: typeof ctx.model; report: DynamicQuantizeReport } {
  const { model, options } = ctx;
  if (options.dtype !== 'int8' && options.dtype !== 'uint8') {
    throw new QuantError('INVALID_CONFIG', `dynamic mode quantizes weights to int8 or uint8 (MatMulInteger and ConvInteger take 8-bit inputs), got dtype ${options.dtype}: use weight-only for 4-bit`);
  }
  // DynamicQuantizeLinear is opset 11: older models are raised to 11 where no op changes meaning, or refused naming the ops that would.
  const upgrade = ctx.opset < 11 ? upgradeOpset(model, 11) : undefined;
  const rule = { dtype: options.dtype, symmetric: isSymmetric(options), perChannel: options.perChannel, reduceRange: options.reduceRange };
  const root = indexGraph(model.graph!);
  const names = new NameGenerator(root);
  const ir = Number(model.irVersion);
  const exclude = new Set(options.exclude);
  const edits: GraphEdit[] = [];
  const reports: NodeReport[] = [];
  const activations = new Map<GraphProto, Map<string, DynamicActivation>>();
  const cache: DynamicWeightCache = new Map();
  /** Weight uses that were replaced, per constant (scope graph + name), to drop the float weight when none is left. */
  const replacedUses = new Map<string, { scope: GraphIndex; name: string; kind: 'initializer' | 'constant-node'; node: NodeProto | undefined; count: number }>();
  let before = 0;
  let after = 0;
  const candidates = allGraphs(root).flatMap((g) => g.graph.node.filter((n) => ctx.opTypes.has(n.opType)).map((node) => ({ node, g })));
  let done = 0;

  for (const { node, g } of candidates) {
    const label = nodeName(node);
    const float = (reason: string): void => {
      reports.push({ node: label, opType: node.opType, status: 'float', reason });
    };
    ctx.hooks.onProgress?.({ phase: 'quantize', done: done++, total: candidates.length });
    if (node.name && exclude.has(node.name)) {
      float('excluded by name');
      continue;
    }
    if (node.domain !== '' && node.domain !== 'ai.onnx') {
      float(`${node.domain}.${node.opType} is not an ai.onnx op`);
      continue;
    }
    if (RECURRENT_OPS.has(node.opType)) {
      // LSTM becomes DynamicQuantizeLSTM, which quantizes its input and hidden state itself: no DynamicQuantizeLinear in front.
      const l = lowerDynamicRecurrent(node, g, ir, rule, names);
      if (!l.ok) {
        float(l.reason);
        continue;
      }
      for (const { graph, tensor } of l.initializers) edits.push({ kind: 'add-initializer', graph, tensor });
      edits.push({ kind: 'replace-node', graph: g.graph, node, nodes: [l.node] }, { kind: 'set-opset', domain: 'com.microsoft', version: 1 });
      for (const { name, source: src } of l.replaced) {
        const key = `${allGraphs(root).indexOf(src.scope)}:${name}`;
        const entry = replacedUses.get(key) ?? { scope: src.scope, name, kind: src.kind, node: src.node, count: 0 };
        entry.count++;
        replacedUses.set(key, entry);
      }
      before += l.bytesBefore;
      after += l.bytesAfter;
      const tensors = l.replaced.map((x) => x.name);
      reports.push({ node: label, opType: node.opType, status: 'quantized', tensors, dtype: options.dtype, granularity: l.perChannel ? 'per-channel' : 'per-tensor', ...(l.perChannel && { axis: 1 }), form: 'com.microsoft.DynamicQuantizeLSTM' });
      continue;
    }
    const a = node.input[0] ?? '';
    if (!a || resolveConstant(g, a, ir)) {
      float(`input '${a}' is a constant: dynamic quantization is for activations computed at run time`);
      continue;
    }
    let byName = activations.get(g.graph);
    if (!byName) activations.set(g.graph, (byName = new Map()));
    const existing = byName.get(a);
    const act: DynamicActivation = existing ?? {
      quantized: names.next(`${a}_quantized`),
      scale: names.next(`${a}_scale`),
      zeroPoint: names.next(`${a}_zero_point`),
    };
    const lowered = lowerDynamic(node, g, ir, act, rule, names, cache);
    if (!lowered.ok) {
      float(lowered.reason);
      continue;
    }
    if (!existing) {
      byName.set(a, act);
      // Placed before its first quantized consumer: after the activation's producer, before every later consumer.
      const dql = makeNode('DynamicQuantizeLinear', [a], [act.quantized, act.scale, act.zeroPoint], { name: names.next(`${a}_QuantizeLinear`) });
      edits.push({ kind: 'add-node', graph: g.graph, node: dql, before: node });
    }
    for (const t of lowered.weightInitializers.tensors) edits.push({ kind: 'add-initializer', graph: lowered.weightInitializers.graph, tensor: t });
    for (const t of lowered.initializers) edits.push({ kind: 'add-initializer', graph: g.graph, tensor: t });
    edits.push({ kind: 'replace-node', graph: g.graph, node, nodes: lowered.nodes });
    for (const { name, source: src } of lowered.replaced) {
      const key = `${allGraphs(root).indexOf(src.scope)}:${name}`;
      const entry = replacedUses.get(key) ?? { scope: src.scope, name, kind: src.kind, node: src.node, count: 0 };
      entry.count++;
      replacedUses.set(key, entry);
    }
    before += lowered.bytesBefore;
    after += lowered.bytesAfter;
    reports.push({
      node: label,
      opType: node.opType,
      status: 'quantized',
      tensors: [lowered.weight, a],
      dtype: options.dtype,
      granularity: lowered.granularity.kind === 'per-axis' ? 'per-channel' : 'per-tensor',
      ...(lowered.granularity.kind === 'per-axis' ? { axis: lowered.granularity.axis } : {}),
      form: lowered.form,
    });
  }
  ctx.hooks.onProgress?.({ phase: 'quantize', done, total: candidates.length });

  for (const u of replacedUses.values()) {
    // The float weight goes when the lowered nodes were its only readers (and it is no graph output).
    const uses = usesOf(u.scope, u.name).reduce((n, x) => n + x.node.input.filter((i) => i === u.name).length, 0);
    if (uses !== u.count || allGraphs(u.scope).some((sg) => sg.outputs.has(u.name))) continue;
    if (u.kind === 'initializer') edits.push({ kind: 'remove-initializer', graph: u.scope.graph, name: u.name });
    else edits.push({ kind: 'remove-node', graph: u.scope.graph, node: u.node! });
  }
  applyEdits(model, edits);
  const warnings: string[] = [];
  if (upgrade) warnings.unshift(describeOpsetUpgrade(upgrade, 'DynamicQuantizeLinear needs opset 11'));
  if (options.perChannel && reports.some((r) => r.status === 'quantized' && r.opType === 'Conv' && r.granularity === 'per-tensor')) {
    warnings.push('ConvInteger takes one weight zero point, so asymmetric Conv weights are per tensor despite perChannel (symmetric weights are per channel)');
  }
  return {
    model,
    report: { mode: 'dynamic', dtype: options.dtype, nodes: reports, weightBytesBefore: before, weightBytesAfter: after, warnings, ...(options.integer && { integer: options.integer }), ...(upgrade && { opsetUpgrade: upgrade }) },
  };
}
