import type { NodeProto, TensorProto } from 'onnx-buf';
import { roundHalfEven } from '../../core/round.js';
import { makeNode } from '../../formats/onnx/builders.js';
import { onnxDtypeOf } from '../../formats/onnx/onnx-dtypes.js';
import { makeTensor, readFloat32, tensorDims, tensorSize } from '../../formats/onnx/tensor.js';
import { opSpecOf } from '../graph/op-specs.js';
import type { ActivationQuant } from './qdq-activation.js';
import { nodeName } from '../quantize-report.js';
import type { GraphIndex, NameGenerator } from '../graph/graph.js';
import { resolveConstant, usesOf } from '../graph/graph.js';
import type { GraphEdit } from '../graph/graph-edit.js';

/** The ops whose bias is int32 on the accumulator's grid, as ONNX Runtime's QDQ quantizer writes them. */
export const BIAS_OPS: ReadonlySet<string> = new Set(['Conv', 'ConvTranspose', 'Gemm']);

/** A bias written as int32 codes behind a DequantizeLinear, or why it stays float. */
export type QdqBias =
  | {
      readonly ok: true;
      readonly edits: GraphEdit[];
      readonly initializers: readonly TensorProto[];
      /** The DequantizeLinear's domain: com.microsoft carries an axis below opset 13. */
      readonly domain: '' | 'com.microsoft';
    }
  | { readonly ok: false; readonly reason: string };

const f32 = Math.fround;

/**
 * The bias of a QDQ Conv/ConvTranspose/Gemm `node` of the main graph as int32, as ONNX Runtime's
 * QDQ quantizer (and its WeightBiasQuantization graph rewrite) computes it:
 *
 *   bias_scale[m] = x_scale · w_scale[m],   q[m] = round_half_even(bias[m] / bias_scale[m]) (int32),
 *   zero point 0,   DequantizeLinear(q, bias_scale, 0[, axis = 0]) → the op's bias input.
 *
 * `xScale` is the calibrated input's scale; the weight must already be the output of a
 * DequantizeLinear reading a scale initializer (one value, or one per output channel matching the
 * bias length). A per-channel bias needs DequantizeLinear's axis (opset 13): below that the
 * com.microsoft DequantizeLinear is written. The bias must be a 1-D float32 constant.
 */
export function quantizeQdqBias(root: GraphIndex, node: NodeProto, biasInput: number, xScale: number, opset: number, ir: number, names: NameGenerator): QdqBias {
  const b = node.input[biasInput];
  if (!b) return { ok: false, reason: 'no bias' };
  const source = resolveConstant(root, b, ir);
  if (!source || source.scope !== root || onnxDtypeOf(source.tensor.dataType) !== 'float32') return { ok: false, reason: `bias '${b}' is not a float32 constant of the main graph` };
  const dims = tensorDims(source.tensor);
  if (dims.length !== 1) return { ok: false, reason: `bias '${b}' has shape [${dims.join(', ')}]: expected 1-D` };
  const dq = root.producers.get(node.input[1] ?? '');
  const scaleInit = dq && dq.opType === 'DequantizeLinear' ? root.initializers.get(dq.input[1] ?? '') : undefined;
  if (!scaleInit) return { ok: false, reason: 'its weight is not a DequantizeLinear of initializers' };
  const wScale = readFloat32(scaleInit);
  const bias = readFloat32(source.tensor);
  const perChannel = wScale.length > 1;
  if (perChannel && wScale.length !== bias.length) return { ok: false, reason: `bias '${b}' has ${bias.length} values and the weight ${wScale.length} channel scales` };
  const scale = new Float32Array(bias.length);
  const codes = new Int32Array(bias.length);
  for (let m = 0; m < bias.length; m++) {
    const s = f32(xScale * wScale[perChannel ? m : 0]!);
    if (!(s > 0) || !Number.isFinite(s)) return { ok: false, reason: `bias scale ${s} (input scale ${xScale} x weight scale ${wScale[perChannel ? m : 0]}) is not a positive number` };
    scale[m] = s;
    codes[m] = Math.max(-2147483648, Math.min(2147483647, roundHalfEven(f32(bias[m]! / s))));
  }
  const base = b.replace(/[^A-Za-z0-9_.:/-]/g, '_');
  const paramDims = perChannel ? [bias.length] : [];
  const q = makeTensor(names.next(`${base}_quantized`), 'int32', dims, codes);
  const s = makeTensor(names.next(`${base}_scale`), 'float32', paramDims, perChannel ? scale : scale.subarray(0, 1));
  const zp = makeTensor(names.next(`${base}_zero_point`), 'int32', paramDims, new Int32Array(perChannel ? bias.length : 1));
  const domain = perChannel && opset < 13 ? 'com.microsoft' : '';
  const out = names.next(`${base}_dequantized`);
  const dqNode = makeNode('DequantizeLinear', [q.name, s.name, zp.name], [out], { name: names.next(`${base}_DequantizeLinear`), domain, attributes: perChannel ? { axis: 0 } : {} });
  const edits: GraphEdit[] = [
    { kind: 'add-node', graph: root.graph, node: dqNode, before: 'start' },
    { kind: 'set-input', node, index: biasInput, name: out },
  ];
  return { ok: true, edits, initializers: [q, s, zp], domain };
}

/**
 * Int32 biases (quantizeQdqBias) for the QDQ nodes of the main graph (`nodes`; `root` is the index
 * after the weight pass) whose input is calibrated and
 * whose weight is quantized: all of them with quantizeBias; otherwise only those with per-channel
 * weights below opset 13, because onnxruntime's own WeightBiasQuantization rewrite would give
 * those an ai.onnx DequantizeLinear with an axis, which opset < 13 rejects, and the model would not
 * load. A float bias left without readers is removed.
 */
export function quantizeBiases(
  root: GraphIndex,
  nodes: readonly NodeProto[],
  fused: ReadonlyMap<NodeProto, unknown>,
  acts: ReadonlyMap<string, ActivationQuant>,
  o: { quantizeBias: boolean; opset: number; ir: number },
  names: NameGenerator,
): { edits: GraphEdit[]; warnings: string[]; quantized: Map<NodeProto, string[]> } {
  const edits: GraphEdit[] = [];
  const warnings: string[] = [];
  const quantized = new Map<NodeProto, string[]>();
  const replaced = new Map<string, number>();
  let forced = 0;
  let microsoft = false;
  for (const node of nodes) {
    const spec = opSpecOf(node);
    if (fused.has(node) || !BIAS_OPS.has(node.opType) || spec?.bias === undefined || !node.input[spec.bias]) continue;
    const x = acts.get(node.input[0] ?? '');
    const wScale = root.initializers.get(root.producers.get(node.input[1] ?? '')?.input[1] ?? '');
    if (!x || !wScale) continue;
    const perChannel = tensorSize(wScale) > 1;
    const needed = perChannel && o.opset < 13;
    if (!o.quantizeBias && !needed) continue;
    const r = quantizeQdqBias(root, node, spec.bias, x.scaleValue, o.opset, o.ir, names);
    if (!r.ok) {
      if (o.quantizeBias || needed) warnings.push(`${nodeName(node)}: bias stays float: ${r.reason}`);
      continue;
    }
    const b = node.input[spec.bias]!;
    edits.push(...r.edits, ...r.initializers.map((t): GraphEdit => ({ kind: 'add-initializer', graph: root.graph, tensor: t })));
    quantized.set(node, [b]);
    replaced.set(b, (replaced.get(b) ?? 0) + 1);
    microsoft ||= r.domain === 'com.microsoft';
    if (!o.quantizeBias) forced++;
  }
  for (const [b, count] of replaced) {
    const readers = usesOf(root, b).reduce((n, u) => n + u.node.input.filter((i) => i === b).length, 0);
    const source = resolveConstant(root, b, o.ir);
    if (readers !== count || root.outputs.has(b) || source?.scope !== root) continue;
    if (source.kind === 'initializer') edits.push({ kind: 'remove-initializer', graph: root.graph, name: b });
    else edits.push({ kind: 'remove-node', graph: root.graph, node: source.node! });
  }
  if (microsoft) edits.push({ kind: 'set-opset', domain: 'com.microsoft', version: 1 });
  if (forced) {
    warnings.push(
      `${forced} bias(es) of nodes with per-channel weights written as int32 (scale = input scale x weight scale) through com.microsoft.DequantizeLinear: at opset ${o.opset} (< 13) onnxruntime would otherwise rewrite them itself into an ai.onnx DequantizeLinear with an axis, which that opset rejects`,
    );
  }
  return { edits, warnings, quantized };
}
