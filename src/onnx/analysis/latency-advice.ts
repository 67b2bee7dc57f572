import type { ModelProto, NodeProto } from 'onnx-buf';
import { allGraphs, indexGraph, resolveConstant } from '../graph/graph.js';

/** Latency ratios (candidate / float) a quantized model should stay within in onnxruntime on CPU. */
export const LATENCY_GOALS = { 'weight-only': 1.1, dynamic: 1.0, static: 1.0 } as const;

const DYNAMIC_OPS = new Set(['DynamicQuantizeLinear', 'MatMulInteger', 'ConvInteger', 'DynamicQuantizeMatMul', 'DynamicQuantizeLSTM', 'MatMulIntegerToFloat']);

/** What a quantized model is, from its ops: which mode wrote it and the forms that cost time in onnxruntime. */
export interface QuantizedForms {
  readonly mode: keyof typeof LATENCY_GOALS | undefined;
  /** ConvInteger nodes: onnxruntime has no fused, prepacked or NCHWc kernel for them. */
  readonly convInteger: number;
  /** DequantizeLinear nodes on constant weights that feed a float op (not a QDQ pair): run on every inference. */
  readonly constantDequantize: number;
}

/** Reads the quantization forms of a model (main graph and subgraphs). */
export function quantizedForms(model: ModelProto): QuantizedForms {
  const root = indexGraph(model.graph!);
  const ir = Number(model.irVersion);
  let dynamic = false;
  let quantizeLinear = false;
  let convInteger = 0;
  let constantDequantize = 0;
  let castMul = false;
  for (const g of allGraphs(root)) {
    for (const n of g.graph.node) {
      if (DYNAMIC_OPS.has(n.opType)) dynamic = true;
      if (n.opType === 'ConvInteger') convInteger++;
      if (n.opType === 'QuantizeLinear' || n.opType.startsWith('QLinear')) quantizeLinear = true;
      if (n.opType === 'Cast' && n.input[0] && resolveConstant(g, n.input[0], ir)) castMul = true;
      if (n.opType === 'DequantizeLinear' && n.input[0] && resolveConstant(g, n.input[0], ir)) constantDequantize++;
    }
  }
  const matMulNBits = allGraphs(root).some((g) => g.graph.node.some((n: NodeProto) => n.opType === 'MatMulNBits'));
  const mode = dynamic ? 'dynamic' : quantizeLinear ? 'static' : constantDequantize || castMul || matMulNBits ? 'weight-only' : undefined;
  return { mode, convInteger, constantDequantize: mode === 'weight-only' ? constantDequantize : 0 };
}

/**
 * One line for `compare` when a quantized candidate runs slower than the goal for its mode
 * (LATENCY_GOALS), saying why and what to try; undefined when it is within the goal or is not a
 * quantized model quantkit recognises.
 */
export function latencyAdvice(candidate: ModelProto, ratio: number): string | undefined {
  const f = quantizedForms(candidate);
  if (!f.mode || !(ratio > LATENCY_GOALS[f.mode])) return undefined;
  const slower = `the ${f.mode} candidate runs ${ratio.toFixed(2)}x the reference's latency (goal <= ${LATENCY_GOALS[f.mode]}x)`;
  if (f.mode === 'dynamic' && f.convInteger) {
    return `${slower}: its ${f.convInteger} ConvInteger nodes have no fused kernel in onnxruntime; try --mode dynamic --op-types MatMul,Gemm,LSTM (Conv left float) or --mode weight-only`;
  }
  if (f.mode === 'weight-only' && f.constantDequantize) {
    return `${slower}: onnxruntime runs its ${f.constantDequantize} DequantizeLinear on constant weights every inference; try --int8-form cast-mul (folded when the session loads)`;
  }
  if (f.mode === 'static') return `${slower}: QDQ activations add a QuantizeLinear/DequantizeLinear per tensor; try --format qoperator, or --mode weight-only`;
  if (f.mode === 'dynamic') return `${slower}: activations are quantized on every run; on small inputs try --mode weight-only`;
  return `${slower}: the weights are float again once the session has loaded, so this is likely timing noise; try --runs 50`;
}
