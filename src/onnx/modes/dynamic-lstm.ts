import type { GraphProto, NodeProto, TensorProto } from 'onnx-buf';
import { QuantError, isQuantError } from '../../core/errors.js';
import { intAttribute } from '../../formats/onnx/attributes.js';
import { makeNode } from '../../formats/onnx/builders.js';
import { onnxDtypeOf } from '../../formats/onnx/onnx-dtypes.js';
import { makeTensor, readFloat32, tensorDims } from '../../formats/onnx/tensor.js';
import type { ConstantSource, GraphIndex, NameGenerator } from '../graph/graph.js';
import { resolveConstant } from '../graph/graph.js';

/** How dynamic mode quantizes weights (dtype, symmetry, per channel), as dynamic.ts decides it. */
export interface LstmWeightRule {
  readonly dtype: 'int8' | 'uint8';
  readonly symmetric: boolean;
  readonly perChannel: boolean;
  /** 7-bit weights (int8 within ±64, uint8 within 0..127), so uint8 × int8 pair sums fit int16 on x86 without VNNI. */
  readonly reduceRange?: boolean;
}

const FLOAT32_EPS = 2 ** -23;

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Symmetric 8-bit codes for `rows` rows of `cols` values, one scale a row: int8 with zero point 0
 * (|q| <= 127, or 64 reduced), uint8 with zero point 128 (1..255; reduced: 64, 0..127), scale =
 * max|row| / half the code span, in float32, round half to even. Symmetric always: the kernel
 * needs zero point 0 for int8 weights and reads one zero point for all channels of uint8 ones.
 */
function symmetricRows(values: Float32Array, rows: number, cols: number, dtype: 'int8' | 'uint8', reduceRange: boolean): { codes: Int8Array | Uint8Array; scale: Float32Array; zeroPoint: number } {
  const [qmin, qmax, zeroPoint] = dtype === 'int8' ? (reduceRange ? [-64, 64, 0] : [-127, 127, 0]) : reduceRange ? [0, 127, 64] : [1, 255, 128];
  const half = dtype === 'int8' ? qmax : reduceRange ? 63.5 : 127;
  const codes = dtype === 'int8' ? new Int8Array(rows * cols) : new Uint8Array(rows * cols);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let j = 0; j < cols; j++) {
      const v = values[r * cols + j]!;
      if (!Number.isFinite(v)) throw new QuantError('INVALID_ARGUMENT', 'the weight holds NaN or infinity');
      m = Math.max(m, Math.abs(v));
    }
    const s = Math.max(Math.fround(m / half), FLOAT32_EPS);
    scale[r] = s;
    for (let j = 0; j < cols; j++) codes[r * cols + j] = Math.min(qmax, Math.max(qmin, roundHalfEven(Math.fround(values[r * cols + j]! / s)) + zeroPoint));
  }
  return { codes, scale, zeroPoint };
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
 * float. Its constraints make the weights symmetric whatever the options say: int8 weights need
 * zero point 0, and the kernel reads one zero point for all channels of uint8 ones (128, or 64
 * with reduceRange). LSTM's opset-14 `layout` = 1 has no DynamicQuantizeLSTM form.
 */
export function lowerDynamicLstm(node: NodeProto, graph: GraphIndex, ir: number, rule: LstmWeightRule, names: NameGenerator): DynamicLstmLowering {
  if (intAttribute(node, 'layout', 0) !== 0) return { ok: false, reason: 'LSTM with layout = 1 (batch first) has no DynamicQuantizeLSTM form' };
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
      q = rule.perChannel ? symmetricRows(values, dirs * gates, k, rule.dtype, rule.reduceRange ?? false) : symmetricRows(values, dirs, gates * k, rule.dtype, rule.reduceRange ?? false);
    } catch (e) {
      if (isQuantError(e)) return { ok: false, reason: `weight '${name}': ${e.message}` };
      throw e;
    }
    const codes = q.codes;
    const transposed = rule.dtype === 'int8' ? new Int8Array(codes.length) : new Uint8Array(codes.length);
    for (let d = 0; d < dirs; d++) {
      const off = d * gates * k;
      for (let g = 0; g < gates; g++) for (let j = 0; j < k; j++) transposed[off + j * gates + g] = codes[off + g * k + j]!;
    }
    const paramDims = rule.perChannel ? [dirs, gates] : [dirs];
    const zp = rule.dtype === 'int8' ? new Int8Array(q.scale.length) : new Uint8Array(q.scale.length).fill(q.zeroPoint);
    const tensors = [
      makeTensor(names.next(`${base}_quantized`), rule.dtype, [dirs, k, gates], transposed),
      makeTensor(names.next(`${base}_scale`), 'float32', paramDims, q.scale),
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
