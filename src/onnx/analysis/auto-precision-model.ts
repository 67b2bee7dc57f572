import type { ModelProto } from 'onnx-buf';
import { quantizeModel } from '../quantize-model.js';
import type { NodeReport, QuantizeReport } from '../quantize-report.js';
import type { LayerQuantOptions, QuantizedPrecision } from './sensitivity-layers.js';
import { precisionOptions } from './sensitivity-layers.js';

/**
 * Quantizes each named layer at its own precision (weight-only): one int4 pass over the int4
 * layers, then one int8 pass over the int8 layers of its result, every other node excluded by
 * name (so `model` must have named nodes: withNodeNames). `layers` lists every candidate node:
 * those missing from `precisions` stay float. The report lists each layer once, with dtype
 * 'mixed' when both precisions occur.
 */
export async function quantizeWithPrecisions(
  model: ModelProto,
  precisions: ReadonlyMap<string, QuantizedPrecision>,
  layers: readonly string[],
  options: LayerQuantOptions,
): Promise<{ model: ModelProto; report: QuantizeReport }> {
  let current = model;
  const quantized = new Map<string, NodeReport>();
  let before = 0;
  let after = 0;
  const warnings: string[] = [];
  const used: QuantizedPrecision[] = [];
  for (const p of ['int4', 'int8'] as const) {
    const chosen = layers.filter((l) => precisions.get(l) === p);
    if (chosen.length === 0) continue;
    used.push(p);
    const others = layers.filter((l) => precisions.get(l) !== p);
    const r = await quantizeModel(current, precisionOptions(p, options, others));
    current = r.model;
    before += r.report.weightBytesBefore;
    after += r.report.weightBytesAfter;
    warnings.push(...r.report.warnings);
    for (const n of r.report.nodes) if (n.status === 'quantized') quantized.set(n.node, n);
  }
  const nodes: NodeReport[] = layers.map(
    (l) => quantized.get(l) ?? { node: l, opType: model.graph ? opTypeOf(model, l) : '', status: 'float', reason: precisions.has(l) ? 'quantization failed' : 'kept float by automatic precision' },
  );
  return {
    model: current,
    report: { mode: 'weight-only', dtype: used.length === 1 ? used[0]! : used.length ? 'mixed' : 'float', nodes, weightBytesBefore: before, weightBytesAfter: after, warnings },
  };
}

function opTypeOf(model: ModelProto, name: string): string {
  const stack = [model.graph!];
  while (stack.length) {
    const g = stack.pop()!;
    for (const n of g.node) {
      if (n.name === name) return n.opType;
      for (const a of n.attribute) {
        if (a.g) stack.push(a.g);
        stack.push(...a.graphs);
      }
    }
  }
  return '';
}
