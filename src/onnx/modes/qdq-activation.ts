import type { NodeProto } from 'onnx-buf';
import { makeNode } from '../../formats/onnx/builders.js';
import { makeTensor } from '../../formats/onnx/tensor.js';
import type { GraphIndex, NameGenerator } from '../graph/graph.js';
import { usesOf } from '../graph/graph.js';
import type { GraphEdit } from '../graph/graph-edit.js';

/** An activation's quantization: its parameters and the names of what carries them in the graph. */
export interface ActivationQuant {
  readonly tensor: string;
  readonly dtype: 'int8' | 'uint8';
  readonly scaleValue: number;
  readonly zeroPointValue: number;
  /** Initializer names of the scale and zero point. */
  readonly scale: string;
  readonly zeroPoint: string;
  /** Name of the quantized (integer) tensor. */
  readonly quantized: string;
}

/** Names and parameter initializers for one activation, in the main graph. */
export function activationQuant(tensor: string, dtype: 'int8' | 'uint8', scale: number, zeroPoint: number, names: NameGenerator): ActivationQuant {
  const base = tensor.replace(/[^A-Za-z0-9_.:/-]/g, '_');
  return {
    tensor,
    dtype,
    scaleValue: scale,
    zeroPointValue: zeroPoint,
    scale: names.next(`${base}_scale`),
    zeroPoint: names.next(`${base}_zero_point`),
    quantized: names.next(`${base}_quantized`),
  };
}

export interface QdqPlacement {
  /** A fused QLinear node produces `quantized` itself: no QuantizeLinear is written. */
  readonly producedQuantized: boolean;
  /** Nodes reading the integer tensor directly: float uses by them need no DequantizeLinear. */
  readonly integerReaders: ReadonlySet<NodeProto>;
}

/**
 * The edits that put a QuantizeLinear → DequantizeLinear pair on activation `a.tensor` of the main
 * graph, as ONNX Runtime's QDQ quantizer does: one pair per tensor, every float reader (also in
 * nested graphs) reading the DequantizeLinear's output; a graph output keeps its name, on the
 * DequantizeLinear's output, its producer writing to a new name (a rename the caller applies with
 * applyOutputRenames after applyEdits). The pair follows the producer
 * (or starts the graph for a graph input), which keeps the node order topological.
 */
export function qdqEdits(root: GraphIndex, a: ActivationQuant, placement: QdqPlacement, names: NameGenerator): QdqEdits {
  const renames: OutputRename[] = [];
  const g = root.graph;
  const edits: GraphEdit[] = [
    { kind: 'add-initializer', graph: g, tensor: makeTensor(a.scale, 'float32', [], new Float32Array([a.scaleValue])) },
    {
      kind: 'add-initializer',
      graph: g,
      tensor: makeTensor(a.zeroPoint, a.dtype, [], a.dtype === 'int8' ? new Int8Array([a.zeroPointValue]) : new Uint8Array([a.zeroPointValue])),
    },
  ];
  const producer = root.producers.get(a.tensor);
  const idx = producer ? g.node.indexOf(producer) : -1;
  const before: NodeProto | 'start' | 'end' = producer ? (g.node[idx + 1] ?? 'end') : 'start';
  const isOutput = root.outputs.has(a.tensor);
  const floatUses = usesOf(root, a.tensor).filter((u) => !placement.integerReaders.has(u.node));
  const needDq = isOutput || floatUses.length > 0;
  const base = a.tensor.replace(/[^A-Za-z0-9_.:/-]/g, '_');
  let floatSource = a.tensor;
  let dqOutput = names.next(`${base}_DequantizeLinear_Output`);
  if (placement.producedQuantized) {
    // The fused producer no longer writes the float tensor: the DequantizeLinear takes its name.
    dqOutput = a.tensor;
  } else if (isOutput && producer) {
    floatSource = names.next(`${base}_QuantizeLinear_Input`);
    // Renamed in place after the edits (not replaced by a copy), so set-input edits other
    // activations make on this producer are kept.
    producer.output.forEach((o, index) => {
      if (o === a.tensor) renames.push({ node: producer, index, name: floatSource });
    });
    dqOutput = a.tensor;
  }
  if (!placement.producedQuantized) {
    const q = makeNode('QuantizeLinear', [floatSource, a.scale, a.zeroPoint], [a.quantized], { name: names.next(`${base}_QuantizeLinear`) });
    edits.push({ kind: 'add-node', graph: g, node: q, before });
  }
  if (needDq) {
    const dq = makeNode('DequantizeLinear', [a.quantized, a.scale, a.zeroPoint], [dqOutput], { name: names.next(`${base}_DequantizeLinear`) });
    edits.push({ kind: 'add-node', graph: g, node: dq, before });
    if (dqOutput !== a.tensor) {
      for (const u of floatUses) {
        u.node.input.forEach((name, i) => {
          if (name === a.tensor) edits.push({ kind: 'set-input', node: u.node, index: i, name: dqOutput });
        });
      }
    }
  }
  return { edits, renames };
}

/** An output of a node to rename once all edits are applied (GraphEdit has no output edit). */
export interface OutputRename {
  readonly node: NodeProto;
  readonly index: number;
  readonly name: string;
}

/** The edits for one activation, and the producer output renamed when the activation is a graph output. */
export interface QdqEdits {
  readonly edits: GraphEdit[];
  readonly renames: readonly OutputRename[];
}

/** Applies renames after applyEdits: each node keeps its identity, its inputs as edited. */
export function applyOutputRenames(renames: readonly OutputRename[]): void {
  for (const r of renames) r.node.output[r.index] = r.name;
}
