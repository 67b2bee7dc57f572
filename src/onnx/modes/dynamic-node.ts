import type { GraphProto, NodeProto, TensorProto } from 'onnx-buf';
import { isQuantError } from '../../core/errors.js';
import type { Granularity } from '../../core/layout.js';
import { floatAttribute, intAttribute } from '../../formats/onnx/attributes.js';
import { makeNode } from '../../formats/onnx/builders.js';
import { onnxDtypeOf } from '../../formats/onnx/onnx-dtypes.js';
import { makeTensor, readFloat32, readTensor, tensorDims } from '../../formats/onnx/tensor.js';
import type { DequantizeLinearWeight } from './weight-only/dequantize-linear-weight.js';
import { quantizeForDequantizeLinear } from './weight-only/dequantize-linear-weight.js';
import type { ConstantSource, GraphIndex, NameGenerator } from '../graph/graph.js';
import { resolveConstant } from '../graph/graph.js';
import { isGroupedConv } from './weight-only/weight-scheme.js';

/** ONNX TensorProto.DataType FLOAT, the Cast target. */
const FLOAT = 1;

/** The activation of a node after DynamicQuantizeLinear: codes, scale and zero point names. */
export interface DynamicActivation {
  readonly quantized: string;
  readonly scale: string;
  readonly zeroPoint: string;
}

/** A node lowered to integer form, or the reason it stays float. */
export type DynamicLowering =
  | {
      readonly ok: true;
      /** The replacement nodes: XInteger, Cast, Mul(scales), Mul(output), and Add(bias) when there is a bias. */
      readonly nodes: NodeProto[];
      /** New initializers, added to the node's own graph. */
      readonly initializers: TensorProto[];
      /** The quantized weight (codes, zero point, scale) for its scope graph: empty when an earlier node of the same weight made it. */
      readonly weightInitializers: { readonly graph: GraphProto; readonly tensors: readonly TensorProto[] };
      readonly weight: string;
      /** Constants this node no longer reads (the weight; a bias replaced by a reshaped or scaled copy). */
      readonly replaced: readonly { readonly name: string; readonly source: ConstantSource }[];
      readonly granularity: Granularity;
      readonly form: 'MatMulInteger' | 'ConvInteger';
      readonly bytesBefore: number;
      readonly bytesAfter: number;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Weights quantized so far, per scope graph, by name and layout (transposed for Gemm transB,
 * granularity): a weight read by several nodes is quantized once and its initializers reused.
 */
export type DynamicWeightCache = Map<GraphIndex, Map<string, DequantizeLinearWeight>>;

export interface WeightRule {
  readonly dtype: 'int8' | 'uint8';
  readonly symmetric: boolean;
  readonly perChannel: boolean;
  /** 7-bit weights (see reducedRangeParams). */
  readonly reduceRange: boolean;
}

/**
 * A per-channel Conv weight as ConvInteger and the scale Mul read it: the zero point (equal in
 * every channel, the weights being symmetric) as one scalar, the scale [M] as [1, M, 1, ...].
 */
function convIntegerWeight(q: DequantizeLinearWeight, rank: number): DequantizeLinearWeight {
  const zp = readTensor(q.zeroPoint).values as Int8Array | Uint8Array;
  const scale = readFloat32(q.scale);
  return {
    codes: q.codes,
    zeroPoint: makeTensor(q.zeroPoint.name, onnxDtypeOf(q.zeroPoint.dataType) as 'int8' | 'uint8', [], zp.slice(0, 1)),
    scale: makeTensor(q.scale.name, 'float32', [1, scale.length, ...new Array<number>(rank - 2).fill(1)], Float32Array.from(scale)),
    attributes: {},
  };
}

function transpose2d(v: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = v[r * cols + c]!;
  return out;
}

/**
 * Lowers one MatMul, Gemm or Conv to ONNX Runtime's quantize_dynamic form:
 *
 *   Y = Cast<float>(XInteger(A_q, W_q, A_zp, W_zp)) · (A_scale · W_scale) [+ bias]
 *
 * where A_q, A_scale, A_zp come from DynamicQuantizeLinear (uint8, one per activation tensor) and
 * W_q is the weight quantized once (a weight shared by several nodes is quantized for the first and
 * reused through `cache`). MatMul weights may be per column (W_scale [N] broadcasts
 * along Y's last axis). ConvInteger takes one weight zero point, but the scale is applied after
 * it: symmetric Conv weights are per output channel (one zero point, 0 or 128, shared by every
 * channel; W_scale [1, M, 1, ...] broadcasts over NCHW), asymmetric ones per tensor. A grouped or
 * depthwise Conv is always per channel (per tensor collapses it), so with asymmetric weights it
 * stays float with the reason. Gemm needs transA = 0: transB is folded by transposing the
 * weight, alpha into W_scale, beta into a constant C. A Conv bias [M] becomes [1, M, 1, ...] so it
 * broadcasts over NCHW output.
 */
export function lowerDynamic(
  node: NodeProto,
  graph: GraphIndex,
  ir: number,
  act: DynamicActivation,
  rule: WeightRule,
  names: NameGenerator,
  cache: DynamicWeightCache,
): DynamicLowering {
  const op = node.opType;
  const wName = node.input[1] ?? '';
  const source = wName ? resolveConstant(graph, wName, ir) : undefined;
  if (!source) return { ok: false, reason: `weight '${wName}' is computed at run time, not a constant` };
  const wType = onnxDtypeOf(source.tensor.dataType);
  if (wType !== 'float32') return { ok: false, reason: `weight '${wName}' is ${wType}: only float32 weights are quantized` };
  let dims = tensorDims(source.tensor);
  let values = readFloat32(source.tensor);
  let perChannel = rule.perChannel;
  let transposed = false;
  let alpha = 1;
  let bias: { name: string; beta: number } | undefined;
  if (op === 'MatMul') {
    if (dims.length !== 2) {
      if (dims.length < 2) return { ok: false, reason: `weight '${wName}' has rank ${dims.length}: expected a matrix` };
      perChannel = false;
    }
  } else if (op === 'Gemm') {
    if (intAttribute(node, 'transA', 0) !== 0) return { ok: false, reason: 'Gemm with transA = 1 has no MatMulInteger form' };
    if (dims.length !== 2) return { ok: false, reason: `Gemm weight '${wName}' has rank ${dims.length}: expected 2` };
    if (intAttribute(node, 'transB', 0) === 1) {
      values = transpose2d(values, dims[0]!, dims[1]!);
      dims = [dims[1]!, dims[0]!];
      transposed = true;
    }
    alpha = floatAttribute(node, 'alpha', 1);
    const c = node.input[2];
    if (c) {
      const beta = floatAttribute(node, 'beta', 1);
      if (beta !== 1 && !resolveConstant(graph, c, ir)) return { ok: false, reason: `Gemm with beta = ${beta} and a bias computed at run time` };
      bias = { name: c, beta };
    }
  } else if (op === 'Conv') {
    if (dims.length < 3) return { ok: false, reason: `Conv weight '${wName}' has rank ${dims.length}: expected [M, C/group, k...]` };
    const grouped = isGroupedConv(node);
    if (grouped && !rule.symmetric) {
      return { ok: false, reason: 'a grouped Conv needs per-channel weights, and ConvInteger takes one weight zero point: asymmetric weights cannot be per channel (use symmetric weights)' };
    }
    perChannel = rule.symmetric && (rule.perChannel || grouped);
    const b = node.input[2];
    if (b) bias = { name: b, beta: 1 };
  } else {
    return { ok: false, reason: `${op} has no integer form in dynamic mode (MatMul, Gemm, Conv)` };
  }

  const granularity: Granularity = perChannel ? { kind: 'per-axis', axis: op === 'Conv' ? 0 : dims.length - 1 } : { kind: 'per-tensor' };
  // One quantized copy per weight and layout, in the weight's own scope so every reader sees it.
  let byName = cache.get(source.scope);
  if (!byName) cache.set(source.scope, (byName = new Map()));
  const key = `${wName}|${transposed}|${JSON.stringify(granularity)}`;
  let q = byName.get(key);
  const weightInitializers: TensorProto[] = [];
  if (!q) {
    const base = wName.replace(/[^A-Za-z0-9_.:/-]/g, '_');
    try {
      q = quantizeForDequantizeLinear(
        { codes: names.next(`${base}_quantized`), scale: names.next(`${base}_scale`), zeroPoint: names.next(`${base}_zero_point`) },
        values,
        dims,
        rule.dtype,
        rule.symmetric,
        granularity,
        rule.reduceRange,
      );
      if (op === 'Conv' && perChannel) q = convIntegerWeight(q, dims.length);
    } catch (e) {
      // A weight that cannot be quantized (NaN in it) leaves this node float, as weight-only does, instead of failing the model.
      if (isQuantError(e)) return { ok: false, reason: `weight '${wName}': ${e.message}` };
      throw e;
    }
    byName.set(key, q);
    weightInitializers.push(q.codes, q.zeroPoint, q.scale);
  }
  const initializers: TensorProto[] = [];
  let scale = q.scale;
  if (alpha !== 1) {
    const s = readFloat32(q.scale).map((v) => Math.fround(v * alpha));
    scale = makeTensor(names.next(`${q.scale.name}_alpha`), 'float32', tensorDims(q.scale), s);
    initializers.push(scale);
  }

  const y = node.output[0]!;
  const label = node.name || `${op}_${y}`;
  const form = op === 'Conv' ? 'ConvInteger' : 'MatMulInteger';
  const intOut = names.next(`${y}_output_quantized`);
  const castOut = names.next(`${intOut}_cast_output`);
  const scalesOut = names.next(`${label}_scales_mul:0`);
  const nodes: NodeProto[] = [];
  const replaced = [{ name: wName, source }];
  const integer = makeNode(form, [act.quantized, q.codes.name, act.zeroPoint, q.zeroPoint.name], [intOut], { name: names.next(`${label}_quant`) });
  // ConvInteger takes Conv's attributes (strides, pads, dilations, group, kernel_shape, auto_pad) as they are.
  if (op === 'Conv') integer.attribute = [...node.attribute];
  nodes.push(integer);
  nodes.push(makeNode('Cast', [intOut], [castOut], { name: names.next(`${intOut}_cast`), attributes: { to: FLOAT } }));
  nodes.push(makeNode('Mul', [act.scale, scale.name], [scalesOut], { name: names.next(`${label}_scales_mul`) }));
  const scaledOut = bias ? names.next(`${y}_scaled`) : y;
  nodes.push(makeNode('Mul', [castOut, scalesOut], [scaledOut], { name: names.next(`${label}_output_scale_mul`) }));
  if (bias) {
    let biasName = bias.name;
    const constant = resolveConstant(graph, bias.name, ir);
    if (op === 'Conv' || bias.beta !== 1) {
      if (constant) {
        const b = readFloat32(constant.tensor);
        const bDims = tensorDims(constant.tensor);
        const shaped = op === 'Conv' ? [1, b.length, ...new Array<number>(dims.length - 2).fill(1)] : bDims;
        const v = bias.beta === 1 ? Float32Array.from(b) : b.map((x) => Math.fround(x * bias!.beta));
        const t = makeTensor(names.next(`${bias.name.replace(/[^A-Za-z0-9_.:/-]/g, '_')}_reshaped`), 'float32', shaped, v);
        initializers.push(t);
        biasName = t.name;
        replaced.push({ name: bias.name, source: constant });
      } else {
        // A run-time Conv bias [M] is reshaped in the graph, as onnxruntime's tool does.
        const shape = makeTensor(names.next(`${label}_bias_shape`), 'int64', [dims.length], BigInt64Array.from([1n, -1n, ...new Array<bigint>(dims.length - 2).fill(1n)]));
        initializers.push(shape);
        biasName = names.next(`${bias.name}_reshaped`);
        nodes.push(makeNode('Reshape', [bias.name, shape.name], [biasName], { name: names.next(`${label}_bias_reshape`) }));
      }
    }
    nodes.push(makeNode('Add', [scaledOut, biasName], [y], { name: names.next(`${label}_bias_add`) }));
  }
  const bytesBefore = weightInitializers.length ? values.length * 4 : 0;
  const bytesAfter = [...weightInitializers, ...(scale === q.scale ? [] : [scale])].reduce((n, t) => n + t.rawData.length, 0);
  return { ok: true, nodes, initializers, weightInitializers: { graph: source.scope.graph, tensors: weightInitializers }, weight: wName, replaced, granularity, form, bytesBefore, bytesAfter };
}
