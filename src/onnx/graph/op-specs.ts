import type { NodeProto } from 'onnx-buf';
import { intAttribute } from '../../formats/onnx/attributes.js';

/** One weight input of an op: its position, the axis of output channels, and the axis summed over (where blocks run). */
export interface WeightInputSpec {
  readonly input: number;
  /** Axis of the weight whose slices produce distinct outputs (per-channel scales run along it). Negative counts from the end. */
  readonly channelAxis: number;
  /** Axis the op reduces over (the input features): per-block quantization makes blocks along it. */
  readonly reductionAxis: number;
  /** When this INT attribute is 1 the weight is stored transposed: channel and reduction axes swap (Gemm's transB). */
  readonly transposedBy?: string;
}

/** What an op's inputs mean, as data: which are weights (and their axes), which is the bias. */
export interface OpSpec {
  readonly opType: string;
  readonly domain: '';
  readonly weights: readonly WeightInputSpec[];
  /** Input index of the bias, if the op has one. */
  readonly bias?: number;
}

/**
 * The ops whose weights quantkit knows. Shapes (ONNX): MatMul B [..., K, N]; Gemm B [K, N] or
 * [N, K] with transB; Conv W [M, C/group, k...]; ConvTranspose W [C, M/group, k...]; LSTM/GRU/RNN
 * W [dirs, gates·hidden, input] and R [dirs, gates·hidden, hidden]; Gather data [vocab, dim] (an
 * embedding table: each row is looked up whole, so rows are the channels).
 */
export const OP_SPECS = {
  MatMul: { opType: 'MatMul', domain: '', weights: [{ input: 1, channelAxis: -1, reductionAxis: -2 }] },
  Gemm: { opType: 'Gemm', domain: '', weights: [{ input: 1, channelAxis: 1, reductionAxis: 0, transposedBy: 'transB' }], bias: 2 },
  Conv: { opType: 'Conv', domain: '', weights: [{ input: 1, channelAxis: 0, reductionAxis: 1 }], bias: 2 },
  ConvTranspose: { opType: 'ConvTranspose', domain: '', weights: [{ input: 1, channelAxis: 1, reductionAxis: 0 }], bias: 2 },
  LSTM: { opType: 'LSTM', domain: '', weights: [{ input: 1, channelAxis: 1, reductionAxis: 2 }, { input: 2, channelAxis: 1, reductionAxis: 2 }], bias: 3 },
  GRU: { opType: 'GRU', domain: '', weights: [{ input: 1, channelAxis: 1, reductionAxis: 2 }, { input: 2, channelAxis: 1, reductionAxis: 2 }], bias: 3 },
  RNN: { opType: 'RNN', domain: '', weights: [{ input: 1, channelAxis: 1, reductionAxis: 2 }, { input: 2, channelAxis: 1, reductionAxis: 2 }], bias: 3 },
  Gather: { opType: 'Gather', domain: '', weights: [{ input: 0, channelAxis: 0, reductionAxis: 1 }] },
} as const satisfies Record<string, OpSpec>;

export type SpecifiedOpType = keyof typeof OP_SPECS;

export function isSpecifiedOpType(opType: string): opType is SpecifiedOpType {
  return Object.prototype.hasOwnProperty.call(OP_SPECS, opType);
}

/** The spec of a node's op (default domain only), or undefined for ops quantkit does not know. */
export function opSpecOf(node: NodeProto): OpSpec | undefined {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  return isSpecifiedOpType(node.opType) ? OP_SPECS[node.opType] : undefined;
}

/**
 * The channel and reduction axes of a weight of rank `rank` for this node, normalised to 0..rank-1
 * (transposition attributes applied). Example: Gemm with transB=1, rank 2 → { channelAxis: 0, reductionAxis: 1 }.
 */
export function weightAxes(node: NodeProto, spec: WeightInputSpec, rank: number): { channelAxis: number; reductionAxis: number } {
  let c = spec.channelAxis < 0 ? spec.channelAxis + rank : spec.channelAxis;
  let r = spec.reductionAxis < 0 ? spec.reductionAxis + rank : spec.reductionAxis;
  if (spec.transposedBy && intAttribute(node, spec.transposedBy, 0) === 1) [c, r] = [r, c];
  return { channelAxis: c, reductionAxis: r };
}
