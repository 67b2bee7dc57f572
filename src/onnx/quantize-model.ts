import { clone } from '@bufbuild/protobuf';
import type { ModelProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { checkOpset } from './graph/opset.js';
import type { QuantizeModeImpl } from './modes/mode-impl.js';
import { parseQuantizeOptions } from './quantize-options.js';
import type { QuantizeOptionsInput } from './quantize-options.js';
import { createQuantizeModes } from './modes/mode-registry.js';
import type { QuantizeReport } from './quantize-report.js';
import type { Registry } from '../core/registry.js';
import type { QuantizeHooks } from './run-model.js';
import { unchosenWeightNodes } from './modes/unchosen-weight-nodes.js';

let defaultModes: Registry<string, QuantizeModeImpl> | undefined;

/**
 * Quantizes an ONNX model: validates options once, checks the opset, and hands a copy of the
 * model to the registered implementation of options.mode. The input model is not modified. The
 * report lists every node that carries a float weight: quantized, or float with the reason (also
 * when its op type was not chosen).
 * Example: const { model: q, report } = await quantizeModel(m, { mode: 'weight-only', dtype: 'int8', perChannel: true }).
 */
export async function quantizeModel(
  model: ModelProto,
  options: QuantizeOptionsInput = {},
  hooks: QuantizeHooks = {},
  modes: Registry<string, QuantizeModeImpl> = (defaultModes ??= createQuantizeModes()),
): Promise<{ model: ModelProto; report: QuantizeReport }> {
  const parsed = parseQuantizeOptions(options);
  const opset = checkOpset(model);
  // A registry without the mode (only a caller's own can lack one) throws UNSUPPORTED naming those it has.
  const impl = modes.get(parsed.mode);
  const opTypes = new Set(parsed.opTypes ?? impl.defaultOpTypes);
  const result = await impl.quantize({ model: clone(ModelProtoSchema, model), options: parsed, hooks, opset, opTypes });
  // Weight-bearing nodes of op types not chosen stay float: the report lists them with that reason instead of leaving them out.
  const listed = new Set(result.report.nodes.map((n) => n.node));
  const unchosen = unchosenWeightNodes(model, opTypes, parsed.opTypes === undefined ? (impl.notByDefault ?? {}) : {}).filter((n) => !listed.has(n.node));
  return unchosen.length ? { model: result.model, report: { ...result.report, nodes: [...result.report.nodes, ...unchosen] } } : result;
}
