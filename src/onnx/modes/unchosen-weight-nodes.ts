import type { ModelProto } from 'onnx-buf';
import { onnxDtypeOf } from '../../formats/onnx/onnx-dtypes.js';
import { allGraphs, indexGraph, resolveConstant } from '../graph/graph.js';
import { opSpecOf } from '../graph/op-specs.js';
import type { NodeReport } from '../quantize-report.js';
import { nodeName } from '../quantize-report.js';

/**
 * The nodes that carry a float weight (a constant float input where OP_SPECS says an op has a
 * weight: MatMul, Gemm, Conv, ConvTranspose, LSTM, GRU, RNN, Gather) but whose op type was not
 * chosen, in any graph including If/Loop/Scan bodies, as float entries of a report saying so. Why:
 * a report that lists only the chosen ops says "36 of 36 quantized" while the LSTMs that hold most
 * of the weights stay float without a word. notByDefault: the mode's reason for an op type it
 * leaves out by default (only passed when the caller did not choose the op types).
 */
export function unchosenWeightNodes(model: ModelProto, opTypes: ReadonlySet<string>, notByDefault: Readonly<Partial<Record<string, string>>> = {}): NodeReport[] {
  const root = indexGraph(model.graph!);
  const ir = Number(model.irVersion);
  const chosen = [...opTypes].join(',');
  const out: NodeReport[] = [];
  for (const g of allGraphs(root)) {
    for (const node of g.graph.node) {
      if (opTypes.has(node.opType)) continue;
      const spec = opSpecOf(node);
      if (!spec) continue;
      const weights = spec.weights.map((w) => node.input[w.input]).filter((n): n is string => !!n);
      const floatWeights = weights.filter((n) => {
        const c = resolveConstant(g, n, ir);
        return c !== undefined && onnxDtypeOf(c.tensor.dataType) === 'float32';
      });
      if (!floatWeights.length) continue;
      const where = g.parent ? ` (inside a subgraph of ${nodeName(g.owner!)})` : '';
      out.push({
        node: nodeName(node),
        opType: node.opType,
        status: 'float',
        reason: `${notByDefault[node.opType] ?? `op type ${node.opType} was not chosen (op types: ${chosen})`}; weights ${floatWeights.map((n) => `'${n}'`).join(', ')} stay float${where}`,
      });
    }
  }
  return out;
}
