import { clone } from '@bufbuild/protobuf';
import type { ModelProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { allGraphs, indexGraph, NameGenerator } from '../graph/graph.js';
import type { QuantizeOptionsInput } from '../quantize-options.js';

/** Precisions a layer can be given, from smallest to largest. */
export const LAYER_PRECISIONS = ['int4', 'int8', 'float'] as const;
export type LayerPrecision = (typeof LAYER_PRECISIONS)[number];
export type QuantizedPrecision = Exclude<LayerPrecision, 'float'>;

/**
 * Options shared by sensitivity analysis and automatic precision: how each precision quantizes a
 * layer (weight-only). int8 is per channel unless perChannel is false; int4 is per block of
 * blockSize (MatMulNBits for MatMul, opset-21 blocked DequantizeLinear elsewhere).
 */
export interface LayerQuantOptions {
  readonly perChannel?: boolean;
  readonly blockSize?: number;
  readonly symmetric?: boolean;
  /** Op types considered layers (default: weight-only's MatMul, Gemm, Conv). */
  readonly opTypes?: readonly string[];
  /** Node names never quantized. */
  readonly exclude?: readonly string[];
}

/** quantizeModel options that quantize with `precision` every candidate layer except `exclude`. */
export function precisionOptions(precision: QuantizedPrecision, options: LayerQuantOptions, exclude: readonly string[]): QuantizeOptionsInput {
  return {
    mode: 'weight-only',
    dtype: precision,
    perChannel: options.perChannel ?? true,
    ...(options.blockSize !== undefined && { blockSize: options.blockSize }),
    ...(options.symmetric !== undefined && { symmetric: options.symmetric }),
    ...(options.opTypes !== undefined && { opTypes: [...options.opTypes] }),
    exclude: [...(options.exclude ?? []), ...exclude],
  };
}

/**
 * A copy of the model in which every node has a name (unnamed ones get `<OpType>_<k>`, k counting
 * per op type, made unique in the model): layers are picked for quantization by name, so each must have one. Existing names
 * are kept.
 */
export function withNodeNames(model: ModelProto): ModelProto {
  const copy = clone(ModelProtoSchema, model);
  const root = indexGraph(copy.graph!);
  const names = new NameGenerator(root);
  const counts = new Map<string, number>();
  for (const g of allGraphs(root)) {
    for (const n of g.graph.node) {
      if (n.name) continue;
      const k = counts.get(n.opType) ?? 0;
      counts.set(n.opType, k + 1);
      n.name = names.next(`${n.opType}_${k}`);
    }
  }
  return copy;
}
