import { clone } from '@bufbuild/protobuf';
import type { ModelProto, NodeProto, TensorProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../core/float16.js';
import { intAttribute } from '../../formats/onnx/attributes.js';
import { makeValueInfo } from '../../formats/onnx/builders.js';
import { encodeModel } from '../../formats/onnx/model.js';
import { onnxDtypeOf } from '../../formats/onnx/onnx-dtypes.js';
import type { GraphIndex } from '../graph/graph.js';
import { resolveConstant } from '../graph/graph.js';
import type { ProgressEvent, RunModel, TensorMap } from '../run-model.js';
import type { BlockedWeight } from './blocked-weight.js';
import { dequantizeBlocked } from './blocked-weight.js';
import type { LayerStats } from './layer-stats.js';
import { addRows, channelRows, createLayerStats } from './layer-stats.js';
import type { WeightScheme } from './weight-scheme.js';

/** Where a layer's input channels are: the activation feeding its weight, and how its channels map to the weight's cols. */
export interface LayerInput {
  /** The activation tensor (a main-graph value computed at run time). */
  readonly tensor: string;
  /** Its channel axis; negative counts from the end (MatMul: −1). */
  readonly channelAxis: number;
  /** Input channels per group (the weight's cols). */
  readonly cols: number;
  /** Conv groups: group g reads channels [g·cols, (g+1)·cols) and owns the g-th slice of the weight's rows. */
  readonly groups: number;
  /** The node input index of the weight these statistics describe (LSTM: W, not R). */
  readonly weightInput: number;
}

/** One layer to calibrate: its input, and the weights fed by it (quantized once its statistics are complete). */
export interface WeightLayer extends LayerInput {
  readonly node: NodeProto;
  readonly weights: readonly { readonly name: string; readonly tensor: TensorProto; readonly scheme: Exclude<WeightScheme, { form: 'float' }>; readonly use: unknown }[];
}

/**
 * The activation whose channels a node's weight input `weightInput` reduces over, or undefined when
 * no run-time tensor carries them (a recurrent weight R sees the hidden state inside the op; a
 * Gather reads indices; an input that is itself a constant). `dims` are the weights' dims.
 */
export function layerInputOf(node: NodeProto, weightInput: number, dims: readonly (readonly number[])[], irVersion: number, root: GraphIndex): LayerInput | undefined {
  const x = node.input[0];
  if (!x || resolveConstant(root, x, irVersion)) return undefined;
  const w = dims[0]!;
  switch (node.opType) {
    case 'MatMul':
      return weightInput === 1 && w.length >= 2 ? { tensor: x, channelAxis: -1, cols: w[w.length - 2]!, groups: 1, weightInput } : undefined;
    case 'Gemm': {
      if (weightInput !== 1 || w.length !== 2) return undefined;
      const cols = intAttribute(node, 'transB', 0) === 1 ? w[1]! : w[0]!;
      return { tensor: x, channelAxis: intAttribute(node, 'transA', 0) === 1 ? 0 : 1, cols, groups: 1, weightInput };
    }
    case 'Conv': {
      if (weightInput !== 1 || w.length < 3) return undefined;
      return { tensor: x, channelAxis: 1, cols: w[1]!, groups: intAttribute(node, 'group', 1), weightInput };
    }
    case 'ConvTranspose':
      // Grouped transposed convolutions block input channels of every group together: no per-group statistics.
      return weightInput === 1 && w.length >= 3 && intAttribute(node, 'group', 1) === 1 ? { tensor: x, channelAxis: 1, cols: w[0]!, groups: 1, weightInput } : undefined;
    case 'LSTM':
    case 'GRU':
    case 'RNN':
      return weightInput === 1 && w.length === 3 ? { tensor: x, channelAxis: -1, cols: w[2]!, groups: 1, weightInput } : undefined;
    default:
      return undefined;
  }
}

export interface WeightCalibrationOptions {
  readonly runModel: RunModel;
  readonly data: () => AsyncIterable<TensorMap> | Iterable<TensorMap>;
  /** Accumulate the Hessian (GPTQ). */
  readonly hessian: boolean;
  /** Keep sample input rows (AWQ). */
  readonly sample: boolean;
  /**
   * GPTQ: each pass runs the model with the weights of the layers already quantized replaced by
   * their dequantized values, so later layers are fitted to the inputs they will really see.
   */
  readonly sequential: boolean;
  readonly onProgress?: (event: ProgressEvent) => void;
  /** Called once per layer when its statistics are complete; returns what it quantized (to update the running model in sequential mode). */
  readonly quantizeLayer: (layer: WeightLayer, stats: readonly LayerStats[]) => readonly { name: string; weight: BlockedWeight; scheme: WeightLayer['weights'][number]['scheme'] }[];
  /**
   * Called once per pass when its layers' statistics are complete, before quantizeLayer is called
   * on each: the layers of one pass are independent, so this may quantize them at the same time
   * (in worker threads) for quantizeLayer to pick up.
   */
  readonly prepareLayers?: (layers: readonly { readonly layer: WeightLayer; readonly stats: readonly LayerStats[] }[]) => Promise<void>;
  /** Bytes of statistics one pass may hold (Hessians dominate: cols² float64 each). Default 256 MiB. */
  readonly budgetBytes?: number;
  /** Layers captured per pass at most (their activations of one batch are in memory together). Default 4 sequential, 16 otherwise. */
  readonly layersPerPass?: number;
}

/** Layers grouped into passes within the budget, in graph order. */
function passes(layers: readonly WeightLayer[], o: WeightCalibrationOptions): WeightLayer[][] {
  const budget = o.budgetBytes ?? 256 * 2 ** 20;
  const most = o.layersPerPass ?? (o.sequential ? 4 : 16);
  const out: WeightLayer[][] = [];
  let cur: WeightLayer[] = [];
  let bytes = 0;
  for (const l of layers) {
    const need = l.groups * (l.cols * 16 + (o.hessian ? l.cols * l.cols * 8 * 2 : 0));
    if (cur.length && (cur.length >= most || bytes + need > budget)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(l);
    bytes += need;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Replaces a main-graph constant's values in place (initializer or Constant node), keeping its type. */
function setConstant(model: ModelProto, name: string, values: Float32Array): void {
  const g = model.graph!;
  let t = g.initializer.find((i) => i.name === name);
  if (!t) {
    const n = g.node.find((c) => c.opType === 'Constant' && c.output[0] === name);
    t = n?.attribute.find((a) => a.name === 'value')?.t;
  }
  if (!t) throw new Error(`weight '${name}' vanished from the running model`);
  const f16 = onnxDtypeOf(t.dataType) === 'float16';
  const bytes = f16 ? float32ToFloat16Bits(values) : values;
  t.rawData = new Uint8Array(bytes.byteLength);
  t.rawData.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  t.floatData = [];
  t.int32Data = [];
}

/**
 * Accumulates the statistics of every layer's input on the calibration batches, a few layers per
 * pass (the model gets those layers' inputs as extra outputs; each batch's activations are folded
 * into the statistics and dropped), and hands each layer to quantizeLayer as soon as its
 * statistics are complete. Memory: one batch of the pass's activations plus the statistics.
 */
export async function calibrateWeightLayers(
  model: ModelProto,
  layers: readonly WeightLayer[],
  o: WeightCalibrationOptions,
): Promise<{ summary: { batches: number; layers: number; passes: number; sequential: boolean } }> {
  const running = clone(ModelProtoSchema, model);
  const groups = passes(layers, o);
  let batches = 0;
  let done = 0;
  for (const group of groups) {
    const m = clone(ModelProtoSchema, running);
    const outputs = new Set(m.graph!.output.map((v) => v.name));
    const tensors = [...new Set(group.map((l) => l.tensor))];
    for (const l of group) {
      if (outputs.has(l.tensor)) continue;
      outputs.add(l.tensor);
      m.graph!.output.push(makeValueInfo(l.tensor, onnxDtypeOf(l.weights[0]!.tensor.dataType) === 'float16' ? 'float16' : 'float32'));
    }
    const stats = new Map<WeightLayer, LayerStats[]>(group.map((l) => [l, Array.from({ length: l.groups }, () => createLayerStats(l.cols, o.hessian, o.sample))]));
    let seen = 0;
    await o.runModel(
      encodeModel(m),
      o.data(),
      (out, batch) => {
        for (const l of group) {
          const t = out[l.tensor];
          if (!t) throw new QuantError('INVALID_ARGUMENT', `the runtime returned no value for tensor '${l.tensor}' in batch ${batch}`);
          const x = t.dtype === 'float16' ? float16BitsToFloat32(t.values as Uint16Array) : t.dtype === 'float32' ? (t.values as Float32Array) : undefined;
          if (!x) throw new QuantError('UNSUPPORTED', `tensor '${l.tensor}' is ${t.dtype}: weight calibration reads float activations`);
          const axis = l.channelAxis < 0 ? t.dims.length + l.channelAxis : l.channelAxis;
          if (t.dims[axis] !== l.cols * l.groups) throw new QuantError('SHAPE_MISMATCH', `tensor '${l.tensor}' has ${t.dims[axis]} channels on axis ${axis}, its weight expects ${l.cols * l.groups}`);
          const s = stats.get(l)!;
          for (let g = 0; g < l.groups; g++) {
            const r = channelRows(x, t.dims, axis, g * l.cols, l.cols);
            addRows(s[g]!, r.data, r.rows);
          }
        }
        seen++;
      },
      tensors,
    );
    if (seen === 0) throw new QuantError('EMPTY_INPUT', 'calibration got no batches: expected at least one set of model inputs');
    batches = Math.max(batches, seen);
    await o.prepareLayers?.(group.map((l) => ({ layer: l, stats: stats.get(l)! })));
    for (const l of group) {
      const written = o.quantizeLayer(l, stats.get(l)!);
      if (o.sequential) {
        for (const w of written) {
          const dims = l.weights.find((x) => x.name === w.name)!.tensor.dims.map(Number);
          const axis = w.scheme.form === 'matmulnbits' ? 0 : w.scheme.form === 'gather-block' ? 1 : (w.scheme.granularity as { axis: number }).axis;
          const blockSize = w.scheme.form === 'dequantize-linear' ? (w.scheme.granularity as { blockSize: number }).blockSize : w.scheme.blockSize;
          setConstant(running, w.name, dequantizeBlocked(w.weight, dims, axis, blockSize));
        }
      }
      done++;
      o.onProgress?.({ phase: 'calibrate', done, total: layers.length });
    }
  }
  return { summary: { batches, layers: layers.length, passes: groups.length, sequential: o.sequential } };
}
