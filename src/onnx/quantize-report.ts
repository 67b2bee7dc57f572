import type { IntegerTypes } from './target.js';

/** What happened to one node. */
export type NodeReport =
  | {
      readonly node: string;
      readonly opType: string;
      readonly status: 'quantized';
      /** The quantized input (weight or activation) names. */
      readonly tensors: readonly string[];
      readonly dtype: string;
      readonly granularity: 'per-tensor' | 'per-channel' | 'per-block';
      readonly axis?: number;
      readonly blockSize?: number;
      /** The ONNX form written, e.g. 'DequantizeLinear', 'MatMulNBits', 'com.microsoft.DequantizeLinear'. */
      readonly form: string;
      /** How the codes were chosen, when not by rounding to nearest (gptq, awq, hqq, search). */
      readonly method?: string;
      /** Why the method differs from the one asked for (e.g. no calibration inputs reach the weight). */
      readonly methodNote?: string;
      /** Calibrated methods: per weight, where its calibration statistics came from (a captured input, inside which If branch, on how many batches) or why it has none. */
      readonly calibration?: string;
      /** AWQ: where the layer's input is divided by its per-channel scales s (folded into the ops producing it, a Mul in front, or nowhere when s is all 1), and why. */
      readonly inputScale?: InputScalePlacement;
    }
  | { readonly node: string; readonly opType: string; readonly status: 'float'; readonly reason: string };

/** Where AWQ's 1/s went for one layer: `into` the nodes whose constants absorbed it, `sharedWith` the layers reading the same input with the same s. */
export interface InputScalePlacement {
  readonly applied: 'folded' | 'Mul' | 'none';
  readonly into?: readonly string[];
  readonly sharedWith?: readonly string[];
  readonly reason: string;
}

export interface QuantizeReport {
  readonly mode: string;
  readonly dtype: string;
  readonly nodes: readonly NodeReport[];
  /** Float bytes of the weights that were replaced and the bytes of what replaced them (codes, scales, zero points). */
  readonly weightBytesBefore: number;
  readonly weightBytesAfter: number;
  /** Things the user should know (generated calibration data, an opset raised, ...). */
  readonly warnings: readonly string[];
  /** Dynamic and static modes: the integer types written, for which CPUs, and why. */
  readonly integer?: IntegerTypes;
}

/** A node's label in reports: its name, or op type and first output for unnamed nodes. */
export function nodeName(node: { name: string; opType: string; output: readonly string[] }): string {
  return node.name || `${node.opType}(${node.output[0] ?? ''})`;
}
