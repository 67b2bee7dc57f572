import * as tf from '@tensorflow/tfjs';
import type { NodeProto, TensorProto } from 'onnx-buf';
import type { CodeArray, QuantDtypeName } from '../core/dtypes.js';
import { getQuantDtype } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import type { QParams } from '../core/qparams.js';
import { quantize } from '../core/quantize.js';
import { roundHalfEven } from '../core/round.js';
import type { AttributeValue } from '../formats/onnx/builders.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../formats/onnx/builders.js';
import { encodeModel } from '../formats/onnx/model.js';
import type { OnnxDtype } from '../formats/onnx/onnx-dtypes.js';
import type { TensorValues } from '../formats/onnx/tensor.js';
import { makeTensor } from '../formats/onnx/tensor.js';
import { indexGraph, NameGenerator } from '../onnx/graph/graph.js';
import { qatLayers } from './prepare-qat.js';
import type { QatLayer } from './qat-layer.js';
import type { TensorQuantizer } from './tensor-quantizer.js';

const f32 = Math.fround;

/** The ONNX opset convertQat writes: 21, the first with 4-bit QuantizeLinear/DequantizeLinear. */
export const QAT_ONNX_OPSET = 21;

export interface ConvertQatOptions {
  /**
   * 'qdq' (default): integer weights behind DequantizeLinear and QuantizeLinear → DequantizeLinear
   * pairs on the activations, ONNX Runtime's QDQ format. 'qoperator': QLinearConv chains on
   * 8-bit tensors (sub-8-bit ranges kept by Clip), ONNX Runtime's QOperator format.
   */
  readonly format?: 'qdq' | 'qoperator';
}

/** One tensor's parameters as written. */
export interface ConvertedTensor {
  readonly dtype: QuantDtypeName;
  /** The ONNX element type the codes are stored as. */
  readonly storage: OnnxDtype;
  readonly scale: number[];
  readonly zeroPoint: number[];
}

export interface ConvertedLayer {
  readonly name: string;
  readonly op: 'Conv' | 'DepthwiseConv' | 'Dense';
  readonly batchNormFolded: boolean;
  readonly activation: string;
  readonly weight: ConvertedTensor;
  readonly output: ConvertedTensor & { readonly range: { min: number; max: number } };
}

export interface ConvertQatReport {
  readonly format: 'qdq' | 'qoperator';
  readonly opset: number;
  readonly input: ConvertedTensor & { readonly range: { min: number; max: number } };
  readonly layers: ConvertedLayer[];
  /** Bytes of the integer weight initializers. */
  readonly weightBytes: number;
  readonly nodes: number;
}

/** Activation parameters of the tensor flowing between layers. */
interface ActParams {
  readonly dtype: QuantDtypeName;
  readonly qmin: number;
  readonly qmax: number;
  readonly scale: number;
  readonly zeroPoint: number;
  /** Initializer names. */
  readonly scaleName: string;
  readonly zeroPointName: string;
  readonly storage: OnnxDtype;
}

const NATIVE: ReadonlySet<string> = new Set(['int4', 'uint4', 'int8', 'uint8', 'int16', 'uint16']);

/**
 * How codes of `dtype` are stored: weights natively when ONNX has the type (int4 weights take half a
 * byte); activations, and everything in the QOperator format, in 8 bits (a Clip keeps a narrower
 * range), since ONNX Runtime moves pass-through ops such as MaxPool onto the codes and has no
 * 4-bit kernels for them.
 */
function storageOf(dtype: QuantDtypeName, format: 'qdq' | 'qoperator', role: 'weight' | 'activation'): OnnxDtype {
  const d = getQuantDtype(dtype);
  if (format === 'qoperator' || (role === 'activation' && d.bits <= 8)) {
    if (d.bits > 8) throw new QuantError('UNSUPPORTED', `the QOperator format takes at most 8-bit tensors, got ${dtype} (use format 'qdq')`);
    return d.signed ? 'int8' : 'uint8';
  }
  if (NATIVE.has(dtype)) return dtype as OnnxDtype;
  if (d.bits < 8) return d.signed ? 'int8' : 'uint8';
  throw new QuantError('UNSUPPORTED', `${dtype} has no ONNX type: expected 2..8, or 16 bits`);
}

function containerRange(storage: OnnxDtype): { min: number; max: number } {
  const r: Record<string, { min: number; max: number }> = {
    int4: { min: -8, max: 7 },
    uint4: { min: 0, max: 15 },
    int8: { min: -128, max: 127 },
    uint8: { min: 0, max: 255 },
    int16: { min: -32768, max: 32767 },
    uint16: { min: 0, max: 65535 },
  };
  return r[storage];
}

function typedCodes(storage: OnnxDtype, values: ArrayLike<number>): Int8Array | Uint8Array | Int16Array | Uint16Array {
  if (storage === 'int8' || storage === 'int4') return Int8Array.from(values);
  if (storage === 'uint8' || storage === 'uint4') return Uint8Array.from(values);
  if (storage === 'int16') return Int16Array.from(values);
  return Uint16Array.from(values);
}

/** Builds the graph: nodes and initializers in order, fresh names. */
class Builder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly names = new NameGenerator(indexGraph(makeGraph({ nodes: [], inputs: [], outputs: [] })));
  weightBytes = 0;

  init(base: string, dtype: OnnxDtype, dims: number[], values: TensorValues): string {
    const name = this.names.next(base);
    this.initializers.push(makeTensor(name, dtype, dims, values));
    return name;
  }

  node(op: string, inputs: string[], base: string, attributes?: Record<string, AttributeValue>): string {
    const out = this.names.next(base);
    this.nodes.push(makeNode(op, inputs, [out], { name: this.names.next(`${base}_${op}`), attributes }));
    return out;
  }
}

function actParams(b: Builder, q: TensorQuantizer, base: string, format: 'qdq' | 'qoperator'): ActParams {
  const p = q.params([1]);
  const storage = storageOf(q.scheme.dtype, format, 'activation');
  return {
    dtype: q.scheme.dtype,
    qmin: q.qmin,
    qmax: q.qmax,
    scale: p.scale[0],
    zeroPoint: p.zeroPoint[0],
    storage,
    scaleName: b.init(`${base}_scale`, 'float32', [], new Float32Array([p.scale[0]])),
    zeroPointName: b.init(`${base}_zero_point`, storage, [], typedCodes(storage, [p.zeroPoint[0]])),
  };
}

/** Clip on codes when [lo, hi] is narrower than the container: the sub-8-bit range, a fused ReLU/ReLU6. */
function clipCodes(b: Builder, x: string, a: ActParams, lo: number, hi: number, base: string): string {
  const c = containerRange(a.storage);
  if (lo <= c.min && hi >= c.max) return x;
  const min = b.init(`${base}_clip_min`, a.storage, [], typedCodes(a.storage, [Math.max(lo, c.min)]));
  const max = b.init(`${base}_clip_max`, a.storage, [], typedCodes(a.storage, [Math.min(hi, c.max)]));
  return b.node('Clip', [x, min, max], `${base}_clipped`);
}

/**
 * QuantizeLinear of a float tensor, for a range narrower than the storage type behind a float Clip
 * to [(qmin − zp)·s, (qmax − zp)·s]: rounding those ends gives qmin and qmax, so the codes are the
 * core's. A Clip on the codes instead would sit between QuantizeLinear and DequantizeLinear, where
 * ONNX Runtime's QDQ propagation mistypes the QuantizeLinear nodes it inserts.
 */
function quantizeLinear(b: Builder, x: string, a: ActParams, base: string): string {
  const c = containerRange(a.storage);
  if (a.qmin > c.min || a.qmax < c.max) {
    const lo = b.init(`${base}_clip_min`, 'float32', [], new Float32Array([f32((a.qmin - a.zeroPoint) * a.scale)]));
    const hi = b.init(`${base}_clip_max`, 'float32', [], new Float32Array([f32((a.qmax - a.zeroPoint) * a.scale)]));
    x = b.node('Clip', [x, lo, hi], `${base}_clipped`);
  }
  return b.node('QuantizeLinear', [x, a.scaleName, a.zeroPointName], `${base}_quantized`);
}

/**
 * A QuantizeLinear → DequantizeLinear pair after an op that keeps values on the grid (MaxPool,
 * Flatten): exact, and the unit ONNX Runtime's QDQ rules expect; without it ONNX Runtime inserts
 * its own pair, mistyping the QuantizeLinear of an opset-21 model.
 */
function requantize(b: Builder, x: string, a: ActParams, base: string): string {
  const q = b.node('QuantizeLinear', [x, a.scaleName, a.zeroPointName], `${base}_quantized`);
  return dequantizeLinear(b, q, a, base);
}

function dequantizeLinear(b: Builder, q: string, a: ActParams, base: string): string {
  return b.node('DequantizeLinear', [q, a.scaleName, a.zeroPointName], `${base}_dequantized`);
}

/** The codes of a layer's folded weights, in ONNX's layout, with their parameters. */
function weightCodes(layer: QatLayer): { codes: CodeArray; onnxDims: number[]; order: (c: CodeArray) => number[]; params: QParams; bias: Float32Array | null } {
  const { weight, bias } = layer.foldedWeights();
  const shape = weight.shape;
  const values = weight.dataSync() as Float32Array;
  const biasValues = bias ? Float32Array.from(bias.dataSync()) : null;
  weight.dispose();
  bias?.dispose();
  const params = layer.weightQuantizer.params(shape);
  const { codes } = quantize(values, shape, { params });
  const C = layer.channels;
  // tfjs kernels are channels-last; ONNX wants [out, in/group, kh, kw] (Conv) or [in, out] (Gemm's B).
  if (layer.spec.kind === 'dense') return { codes, onnxDims: shape, order: (c) => Array.from(c), params, bias: biasValues };
  const kh = shape[0] as number;
  const kw = shape[1] as number;
  const inPerGroup = layer.spec.kind === 'depthwise' ? 1 : (shape[2] as number);
  const order = (c: CodeArray): number[] => {
    const out = new Array<number>(c.length);
    for (let o = 0; o < C; o++)
      for (let i = 0; i < inPerGroup; i++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++) out[((o * inPerGroup + i) * kh + y) * kw + x] = c[((y * kw + x) * inPerGroup + i) * C + o];
    return out;
  };
  return { codes, onnxDims: [C, inPerGroup, kh, kw], order, params, bias: biasValues };
}

function convAttributes(layer: QatLayer): Record<string, AttributeValue> {
  const { strides, dilation, padding, kind } = layer.spec;
  const k = layer.spec.kernel.shape as number[];
  return {
    kernel_shape: [k[0] as number, k[1] as number],
    strides: [...strides],
    dilations: [...dilation],
    // TensorFlow's 'same' pads the extra row/column at the end: ONNX's SAME_UPPER.
    auto_pad: padding === 'same' ? 'SAME_UPPER' : 'VALID',
    group: kind === 'depthwise' ? layer.channels / (k[3] ?? 1) : 1,
  };
}

function describeTensor(storage: OnnxDtype, dtype: QuantDtypeName, p: { scale: ArrayLike<number>; zeroPoint: ArrayLike<number> }): ConvertedTensor {
  return { dtype, storage, scale: Array.from(p.scale), zeroPoint: Array.from(p.zeroPoint) };
}

function rangeOf(q: TensorQuantizer): { min: number; max: number } {
  const r = q.range();
  return { min: r.min[0], max: r.max[0] };
}

/** The code bounds a fused activation implies: codes of ≥ 0 (ReLU) and ≤ 6 (ReLU6), exact since rounding is monotone. */
function activationBounds(layer: QatLayer, a: ActParams): { lo: number; hi: number } {
  let lo = a.qmin;
  let hi = a.qmax;
  if (layer.spec.activation !== 'linear') lo = Math.max(lo, Math.min(a.zeroPoint, hi));
  if (layer.spec.activation === 'relu6') hi = Math.min(hi, roundHalfEven(f32(6 / a.scale)) + a.zeroPoint);
  return { lo, hi };
}

/**
 * convert for a model prepared by prepareQat and trained: an ONNX model (opset 21) with the
 * layers' folded weights as integer codes (the core's quantize with the quantizers' parameters)
 * and the learned activation ranges, which runs in ONNX Runtime and computes what the
 * fake-quantized model computes (up to float rounding of sums: at most one step of an output
 * code). The input is the model's (NHWC for images), the output the dequantized last layer.
 * Example: const { onnx, report } = convertQat(qatModel, { format: 'qdq' }).
 */
export function convertQat(model: tf.LayersModel, options: ConvertQatOptions = {}): { onnx: Uint8Array; report: ConvertQatReport } {
  const format = options.format ?? 'qdq';
  if (format !== 'qdq' && format !== 'qoperator') throw new QuantError('INVALID_ARGUMENT', `format: expected 'qdq' or 'qoperator', got ${JSON.stringify(format)}`);
  const { input } = qatLayers(model);
  const b = new Builder();
  const inShape = model.inputs[0].shape.map((d) => (d === null ? 'N' : d));
  const rank = inShape.length;
  let x = 'input';
  if (rank === 4) x = b.node('Transpose', [x], 'input_nchw', { perm: [0, 3, 1, 2] });
  let act = actParams(b, input.activationQuantizer, 'input', format);
  const inputParams = input.activationQuantizer.params([1]);
  const report = {
    format,
    opset: QAT_ONNX_OPSET,
    input: { ...describeTensor(act.storage, act.dtype, inputParams), range: rangeOf(input.activationQuantizer) },
    layers: [] as ConvertedLayer[],
  };
  // qdq: x is a float tensor on the grid of `act`; qoperator: x holds the codes.
  x = quantizeLinear(b, x, act, 'input');
  if (format === 'qdq') x = dequantizeLinear(b, x, act, 'input');
  let layout: 'nchw' | 'flat' = rank === 4 ? 'nchw' : 'flat';
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer' || layer === input || cls === 'Dropout') continue;
    if (cls === 'MaxPooling2D') {
      const c = layer.getConfig();
      const pool = c.poolSize as number[];
      const strides = (c.strides ?? pool) as number[];
      x = b.node('MaxPool', [x], `${layer.name}_out`, { kernel_shape: [...pool], strides: [...strides], auto_pad: c.padding === 'same' ? 'SAME_UPPER' : 'VALID' });
      if (format === 'qdq') x = requantize(b, x, act, layer.name);
      continue;
    }
    if (cls === 'Flatten') {
      // tfjs flattens NHWC: back to channels-last first.
      if (layout === 'nchw') {
        x = b.node('Transpose', [x], `${layer.name}_nhwc`, { perm: [0, 2, 3, 1] });
        if (format === 'qdq') x = requantize(b, x, act, `${layer.name}_nhwc`);
      }
      x = b.node('Flatten', [x], `${layer.name}_out`, { axis: 1 });
      layout = 'flat';
      if (format === 'qdq') x = requantize(b, x, act, layer.name);
      continue;
    }
    if (cls !== 'QuantkitQatLayer') throw new QuantError('UNSUPPORTED', `layer '${layer.name}' (${cls}) has no conversion`);
    const ql = layer as QatLayer;
    const w = weightCodes(ql);
    const wStorage = storageOf(ql.weightQuantizer.scheme.dtype, format, 'weight');
    const C = ql.channels;
    const perChannel = w.params.scale.length > 1;
    const sDims = perChannel ? [C] : [];
    const wScale = b.init(`${ql.name}_weight_scale`, 'float32', sDims, Float32Array.from(w.params.scale));
    const wZero = b.init(`${ql.name}_weight_zero_point`, wStorage, sDims, typedCodes(wStorage, w.params.zeroPoint));
    const out = actParams(b, ql.activationQuantizer, `${ql.name}_output`, format);
    const { lo, hi } = activationBounds(ql, out);
    const ordered = w.order(w.codes);
    const isDense = ql.spec.kind === 'dense';
    if (format === 'qdq') {
      const wq = b.init(`${ql.name}_weight_quantized`, wStorage, w.onnxDims, typedCodes(wStorage, ordered));
      const wdq = b.node('DequantizeLinear', [wq, wScale, wZero], `${ql.name}_weight`, perChannel ? { axis: isDense ? 1 : 0 } : undefined);
      const inputs = [x, wdq];
      if (w.bias) {
        // The int32 bias behind a DequantizeLinear at scale x_scale · w_scale: ONNX Runtime's QDQ bias form.
        const bs = ql.biasScale();
        const bq = new Int32Array(C);
        for (let c = 0; c < C; c++) bq[c] = roundHalfEven(f32(w.bias[c]! / bs[c]!));
        const bqName = b.init(`${ql.name}_bias_quantized`, 'int32', [C], bq);
        const bsName = b.init(`${ql.name}_bias_scale`, 'float32', [C], bs);
        const bzName = b.init(`${ql.name}_bias_zero_point`, 'int32', [C], new Int32Array(C));
        inputs.push(b.node('DequantizeLinear', [bqName, bsName, bzName], `${ql.name}_bias`, { axis: 0 }));
      }
      let y = isDense ? b.node('Gemm', inputs, `${ql.name}_out`) : b.node('Conv', inputs, `${ql.name}_out`, convAttributes(ql));
      if (ql.spec.activation === 'relu') y = b.node('Relu', [y], `${ql.name}_relu`);
      if (ql.spec.activation === 'relu6') {
        const zero = b.init(`${ql.name}_relu6_min`, 'float32', [], new Float32Array([0]));
        const six = b.init(`${ql.name}_relu6_max`, 'float32', [], new Float32Array([6]));
        y = b.node('Clip', [y, zero, six], `${ql.name}_relu6`);
      }
      x = dequantizeLinear(b, quantizeLinear(b, y, out, `${ql.name}_output`), out, `${ql.name}_output`);
    } else {
      // QLinearConv takes a bias quantized to int32 at scale x_scale · w_scale (per channel).
      const wq = b.init(`${ql.name}_weight_quantized`, wStorage, isDense ? [C, w.onnxDims[0], 1, 1] : w.onnxDims, typedCodes(wStorage, isDense ? transpose2d(ordered, w.onnxDims[0], C) : ordered));
      const inputs = [isDense ? b.node('Unsqueeze', [x, b.init(`${ql.name}_axes`, 'int64', [2], new BigInt64Array([2n, 3n]))], `${ql.name}_in4d`) : x, act.scaleName, act.zeroPointName, wq, wScale, wZero, out.scaleName, out.zeroPointName];
      if (w.bias) {
        const bq = new Int32Array(C);
        const bs = ql.biasScale();
        for (let c = 0; c < C; c++) bq[c] = roundHalfEven(f32(w.bias[c]! / bs[c]!));
        inputs.push(b.init(`${ql.name}_bias_quantized`, 'int32', [C], bq));
      }
      const attrs = isDense ? { kernel_shape: [1, 1] } : convAttributes(ql);
      let y = b.node('QLinearConv', inputs, `${ql.name}_out`, attrs);
      if (isDense) y = b.node('Flatten', [y], `${ql.name}_out2d`, { axis: 1 });
      x = clipCodes(b, y, out, lo, hi, `${ql.name}_output`);
    }
    b.weightBytes += w.codes.length * (getQuantDtype(ql.weightQuantizer.scheme.dtype).bits <= 4 && format === 'qdq' ? 0.5 : 1);
    report.layers.push({
      name: ql.name,
      op: isDense ? 'Dense' : ql.spec.kind === 'depthwise' ? 'DepthwiseConv' : 'Conv',
      batchNormFolded: ql.spec.batchNorm !== null,
      activation: ql.spec.activation,
      weight: describeTensor(wStorage, ql.weightQuantizer.scheme.dtype, w.params),
      output: { ...describeTensor(out.storage, out.dtype, { scale: [out.scale], zeroPoint: [out.zeroPoint] }), range: rangeOf(ql.activationQuantizer) },
    });
    act = out;
  }
  if (format === 'qoperator') x = dequantizeLinear(b, x, act, 'output');
  // The graph output keeps the name 'output': rename the last node's output.
  const last = b.nodes[b.nodes.length - 1];
  last.output[0] = 'output';
  const outShape = model.outputs[0].shape.map((d) => (d === null ? 'N' : d));
  const graph = makeGraph({
    name: model.name,
    nodes: b.nodes,
    inputs: [makeValueInfo('input', 'float32', inShape)],
    outputs: [makeValueInfo('output', 'float32', outShape)],
    initializers: b.initializers,
  });
  const onnx = encodeModel(makeModel(graph, { '': QAT_ONNX_OPSET }, 10));
  return { onnx, report: { ...report, weightBytes: Math.ceil(b.weightBytes), nodes: b.nodes.length } };
}

function transpose2d(v: number[], rows: number, cols: number): number[] {
  const out = new Array<number>(v.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = v[r * cols + c];
  return out;
}
