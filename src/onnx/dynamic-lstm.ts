import type { GraphProto, NodeProto, TensorProto } from 'onnx-buf';
import { isQuantError } from '../core/errors.js';
import { intAttribute } from '../formats/onnx/attributes.js';
import { makeNode } from '../formats/onnx/builders.js';
import { onnxDtypeOf } from '../formats/onnx/onnx-dtypes.js';
import { makeTensor, readFloat32, readTensor, tensorDims } from '../formats/onnx/tensor.js';
import { quantizeForDequantizeLinear } from './dequantize-linear-weight.js';
import type { ConstantSource, GraphIndex, NameGenerator } from './graph.js';
import { resolveConstant } from './graph.js';

/** How dynamic mode quantizes weights (dtype, symmetry, per channel), as dynamic.ts decides it. */
export interface LstmWeightRule {
  readonly dtype: 'int8' | 'uint8';
  readonly symmetric: boolean;
  readonly perChannel: boolean;
}

/** An LSTM lowered to com.microsoft DynamicQuantizeLSTM, or the reason it stays float. */
export type DynamicLstmLowering =
  | {
      readonly ok: true;
      readonly node: NodeProto;
      /** Quantized W and R with their scales and zero points, each for the graph that defined the float weight. */
      readonly initializers: readonly { readonly graph: GraphProto; readonly tensor: TensorProto }[];
      /** The float weights this node no longer reads. */
      readonly replaced: readonly { readonly name: string; readonly source: ConstantSource }[];
      readonly perChannel: boolean;
      readonly bytesBefore: number;
      readonly bytesAfter: number;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Lowers an LSTM to onnxruntime's DynamicQuantizeLSTM (com.microsoft, CPU): W [dirs, 4H, I] and
 * R [dirs, 4H, H] become 8-bit codes stored transposed, [dirs, I, 4H] and [dirs, H, 4H] (the
 * kernel's GEMM takes B as K×N), with scales and zero points [dirs, 4H] per channel (one per gate
 * unit of each direction) or [dirs] per tensor (one per direction), as onnxruntime's
 * quantize_dynamic writes them. The kernel quantizes X and each step's hidden state to uint8
 * itself (range of the whole matrix, including 0) and runs an integer GEMM; the cell math stays
 * float. Its constraints, checked here: int8 weights need zero points 0 (symmetric), and uint8
 * weights per channel one zero point for all channels (the kernel reads only the first), so
 * uint8 per channel must be symmetric (zero point 128). LSTM's opset-14 `layout` = 1 has no
 * DynamicQuantizeLSTM form.
 */
export function lowerDynamicLstm(node: NodeProto, graph: GraphIndex, ir: number, rule: LstmWeightRule, names: NameGenerator): DynamicLstmLowering {
  if (intAttribute(node, 'layout', 0) !== 0) return { ok: false, reason: 'LSTM with layout = 1 (batch first) has no DynamicQuantizeLSTM form' };
  if (rule.dtype === 'int8' && !rule.symmetric) return { ok: false, reason: 'DynamicQuantizeLSTM takes int8 weights with zero point 0 only: use symmetric int8, or uint8' };
  if (rule.dtype === 'uint8' && rule.perChannel && !rule.symmetric) {
    return { ok: false, reason: 'DynamicQuantizeLSTM reads one zero point for all channels of a uint8 weight: use symmetric uint8 per channel, or per tensor' };
  }
  const initializers: { graph: GraphProto; tensor: TensorProto }[] = [];
  const replaced: { name: string; source: ConstantSource }[] = [];
  const quantized: { codes: string; scale: string; zeroPoint: string }[] = [];
  let bytesBefore = 0;
  let bytesAfter = 0;
  for (const input of [1, 2]) {
    const name = node.input[input] ?? '';
    const source = name ? resolveConstant(graph, name, ir) : undefined;
    if (!source) return { ok: false, reason: `weight '${name}' is computed at run time, not a constant` };
    const dtype = onnxDtypeOf(source.tensor.dataType);
    if (dtype !== 'float32') return { ok: false, reason: `weight '${name}' is ${dtype}: only float32 weights are quantized` };
    const dims = tensorDims(source.tensor);
    if (dims.length !== 3) return { ok: false, reason: `weight '${name}' has rank ${dims.length}: expected [num_directions, 4*hidden_size, ${input === 1 ? 'input_size' : 'hidden_size'}]` };
    const [dirs, gates, k] = dims as [number, number, number];
    const values = readFloat32(source.tensor);
    const base = name.replace(/[^A-Za-z0-9_.:/-]/g, '_');
    let q;
    try {
      // Per channel: rows of [dirs·4H, K]; per tensor: one range per direction, rows of [dirs, 4H·K].
      const shape = rule.perChannel ? [dirs * gates, k] : [dirs, gates * k];
      q = quantizeForDequantizeLinear({ codes: `${base}_q`, scale: `${base}_s`, zeroPoint: `${base}_z` }, values, shape, rule.dtype, rule.symmetric, { kind: 'per-axis', axis: 0 });
    } catch (e) {
      if (isQuantError(e)) return { ok: false, reason: `weight '${name}': ${e.message}` };
      throw e;
    }
    const codes = readTensor(q.codes).values as Int8Array | Uint8Array;
    const transposed = rule.dtype === 'int8' ? new Int8Array(codes.length) : new Uint8Array(codes.length);
    for (let d = 0; d < dirs; d++) {
      const off = d * gates * k;
      for (let g = 0; g < gates; g++) for (let j = 0; j < k; j++) transposed[off + j * gates + g] = codes[off + g * k + j]!;
    }
    const paramDims = rule.perChannel ? [dirs, gates] : [dirs];
    const zp = readTensor(q.zeroPoint).values as Int8Array | Uint8Array;
    const tensors = [
      makeTensor(names.next(`${base}_quantized`), rule.dtype, [dirs, k, gates], transposed),
      makeTensor(names.next(`${base}_scale`), 'float32', paramDims, readFloat32(q.scale)),
      makeTensor(names.next(`${base}_zero_point`), rule.dtype, paramDims, zp),
    ];
    for (const tensor of tensors) {
      initializers.push({ graph: source.scope.graph, tensor });
      bytesAfter += tensor.rawData.length;
    }
    quantized.push({ codes: tensors[0]!.name, scale: tensors[1]!.name, zeroPoint: tensors[2]!.name });
    replaced.push({ name, source });
    bytesBefore += values.length * 4;
  }
  const [w, r] = quantized as [(typeof quantized)[0], (typeof quantized)[0]];
  const optional = [3, 4, 5, 6, 7].map((i) => node.input[i] ?? '');
  const lstm = makeNode('DynamicQuantizeLSTM', [node.input[0] ?? '', w.codes, r.codes, ...optional, w.scale, w.zeroPoint, r.scale, r.zeroPoint], [...node.output], {
    name: names.next(`${node.name || 'LSTM'}_quant`),
    domain: 'com.microsoft',
  });
  lstm.attribute = node.attribute.filter((a) => a.name !== 'layout');
  return { ok: true, node: lstm, initializers, replaced, perChannel: rule.perChannel, bytesBefore, bytesAfter };
}

/** Recurrent ops dynamic mode handles here rather than as MatMul-like ops: LSTM lowered, GRU and RNN float with the reason. */
export const RECURRENT_OPS: ReadonlySet<string> = new Set(['LSTM', 'GRU', 'RNN']);

/** lowerDynamicLstm for LSTM; GRU and RNN have no dynamic integer op in onnxruntime, so they stay float, saying what to use instead. */
export function lowerDynamicRecurrent(node: NodeProto, graph: GraphIndex, ir: number, rule: LstmWeightRule, names: NameGenerator): DynamicLstmLowering {
  if (node.opType === 'LSTM') return lowerDynamicLstm(node, graph, ir, rule, names);
  return { ok: false, reason: `${node.opType} has no dynamic integer op in onnxruntime (DynamicQuantizeLSTM is for LSTM only): --mode weight-only quantizes its weights` };
}
