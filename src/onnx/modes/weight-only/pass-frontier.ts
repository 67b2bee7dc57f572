import type { GraphProto, NodeProto, ValueInfoProto } from 'onnx-buf';
import { intAttribute } from '../../../formats/onnx/attributes.js';
import { makeValueInfo } from '../../../formats/onnx/builders.js';
import type { OnnxDtype } from '../../../formats/onnx/onnx-dtypes.js';
import { onnxDtypeOf } from '../../../formats/onnx/onnx-dtypes.js';
import type { TensorData } from '../../../formats/onnx/tensor.js';
import { nodeReads, pruneToAncestors } from '../../graph/prune-to-ancestors.js';

/**
 * Dtypes kept between passes: those a runner hands back and takes as feeds exactly as the next
 * node reads them. Not float16: onnxruntime runs a float16 node that has no float16 kernel (most,
 * on x86) in float32 between casts and drops a cast pair between two such nodes, so the node after
 * reads the float32 value, not the float16 one a run hands back; fed that, it computes other bits.
 * (Strings, sequences and 4-bit values are never kept either.)
 */
const REUSABLE = new Set<OnnxDtype>(['float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool']);

/** Ops whose first output has the dtype of their first input, for values a model gives no value info. */
const SAME_AS_FIRST_INPUT = new Set([
  'Abs', 'Add', 'AveragePool', 'BatchNormalization', 'Clip', 'Concat', 'Conv', 'ConvTranspose', 'Div', 'Elu', 'Erf', 'Exp', 'Expand', 'Flatten', 'Gather',
  'Gelu', 'Gemm', 'GlobalAveragePool', 'GlobalMaxPool', 'HardSigmoid', 'HardSwish', 'Identity', 'InstanceNormalization', 'LayerNormalization', 'LeakyRelu',
  'Log', 'MatMul', 'Max', 'MaxPool', 'Mean', 'Min', 'Mul', 'Neg', 'Pad', 'Pow', 'PRelu', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceSum', 'Relu',
  'Reshape', 'Resize', 'Sigmoid', 'Slice', 'Softmax', 'Softplus', 'Split', 'Sqrt', 'Squeeze', 'Sub', 'Sum', 'Tanh', 'Tile', 'Transpose', 'Unsqueeze', 'Upsample',
]);

/** The dtype of each main-graph value that can be told without running the model: value infos, initializers, then simple propagation. */
function knownDtypes(graph: GraphProto): Map<string, OnnxDtype> {
  const out = new Map<string, OnnxDtype>();
  const put = (name: string, code: number | undefined): void => {
    if (!name || code === undefined || code === 0) return;
    try {
      out.set(name, onnxDtypeOf(code));
    } catch {
      // An unknown code: the value is simply not reused.
    }
  };
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) put(v.name, v.type?.value.case === 'tensorType' ? v.type.value.value.elemType : undefined);
  for (const t of graph.initializer) put(t.name, t.dataType);
  for (const n of graph.node) {
    const o = n.output[0];
    if (!o || out.has(o) || (n.domain !== '' && n.domain !== 'ai.onnx')) continue;
    if (n.opType === 'Shape' || n.opType === 'Size') out.set(o, 'int64');
    else if (n.opType === 'Cast') put(o, intAttribute(n, 'to'));
    else if (SAME_AS_FIRST_INPUT.has(n.opType) && n.input[0] && out.has(n.input[0])) {
      out.set(o, out.get(n.input[0])!);
      if (n.opType === 'Split') for (const s of n.output) if (s) out.set(s, out.get(n.input[0])!);
    }
  }
  return out;
}

/** What one calibration pass runs: the pruned graph, which kept values it is fed, and which values it hands on. */
export interface PassRun {
  readonly graph: GraphProto;
  /** Values kept from earlier passes that this run takes as inputs. */
  readonly fed: readonly string[];
  /** Values this run computes that later passes will start from (fetched beside the captured ones). */
  readonly handOn: readonly string[];
  /** Kept values no pass from this one on reads: dropped. */
  readonly stale: readonly string[];
}

/**
 * Plans the runs of sequential calibration passes over one main graph so each starts where the
 * model last changed instead of at its inputs. Pass p's run computes the captured values of pass p
 * on the model whose layers of passes < p are quantized: a value that depends on no weight of pass
 * p or later ("settled" at p) is the same in every later pass, so a run that computes it can hand it
 * on, and a later pass is fed it and runs only the nodes after it. The frontier handed on is
 * minimal: only settled values that a later pass's walk back from its captured values reaches
 * first. Which node reads which pass's weights is given (`weightPass`); everything else follows
 * from the graph.
 */
export class PassFrontier {
  private readonly settled = new Map<string, number>();
  private readonly producers = new Map<string, NodeProto>();
  private readonly reads = new Map<NodeProto, string[]>();
  private readonly inputs: Set<string>;
  private readonly dtypes: Map<string, OnnxDtype>;

  /**
   * `weightPass`: per node of `graph`, the last pass whose weights it reads (itself or in its
   * subgraphs); nodes reading none are absent. A value is settled at pass p when no node it depends
   * on reads a weight of pass p or later.
   */
  constructor(
    private readonly graph: GraphProto,
    weightPass: ReadonlyMap<NodeProto, number>,
  ) {
    this.inputs = new Set(graph.input.map((v) => v.name));
    this.dtypes = knownDtypes(graph);
    for (const n of graph.node) {
      const reads = nodeReads(n);
      this.reads.set(n, reads);
      let last = weightPass.get(n) ?? -1;
      for (const r of reads) last = Math.max(last, this.settled.get(r) ?? -1);
      for (const o of n.output) {
        if (!o) continue;
        this.producers.set(o, n);
        this.settled.set(o, last);
      }
    }
  }

  /** Nodes walked back from `targets`, stopping at graph inputs and at `stops`; and the stops reached. */
  private walk(targets: readonly string[], stops: (name: string) => boolean): { nodes: Set<NodeProto>; reached: Set<string> } {
    const nodes = new Set<NodeProto>();
    const reached = new Set<string>();
    const seen = new Set<string>();
    const stack = [...targets];
    while (stack.length) {
      const name = stack.pop()!;
      if (seen.has(name)) continue;
      seen.add(name);
      if (stops(name)) {
        reached.add(name);
        continue;
      }
      if (this.inputs.has(name)) continue;
      const p = this.producers.get(name);
      if (!p || nodes.has(p)) continue;
      nodes.add(p);
      stack.push(...this.reads.get(p)!);
    }
    return { nodes, reached };
  }

  /**
   * The run of pass `pass`: `captured` are its values to fetch (with their value infos), `later`
   * the captured names of each later pass, `kept` the values held from earlier runs.
   */
  plan(pass: number, captured: readonly ValueInfoProto[], later: readonly (readonly string[])[], kept: ReadonlyMap<string, readonly TensorData[]>): PassRun {
    const now = this.walk(
      captured.map((v) => v.name),
      (n) => kept.has(n),
    );
    // Settled values this run computes anyway, of a dtype a runner can hand back.
    const fetchable = new Set<string>();
    for (const n of now.nodes) for (const o of n.output) if (o && (this.settled.get(o) ?? -1) < pass && REUSABLE.has(this.dtypes.get(o)!)) fetchable.add(o);
    const handOn = new Set<string>();
    const stillRead = new Set(now.reached);
    for (const names of later) {
      for (const r of this.walk(names, (n) => kept.has(n) || fetchable.has(n)).reached) (kept.has(r) ? stillRead : handOn).add(r);
    }
    const feeds = new Map<string, ValueInfoProto>();
    for (const name of now.reached) feeds.set(name, makeValueInfo(name, kept.get(name)![0]?.dtype ?? this.dtypes.get(name) ?? 'float32'));
    const names = new Set(captured.map((v) => v.name));
    const outputs = [...captured, ...[...handOn].filter((h) => !names.has(h)).map((h) => makeValueInfo(h, this.dtypes.get(h)!))];
    const pruned = pruneToAncestors(this.graph, outputs, feeds);
    return { graph: pruned.graph, fed: pruned.fed, handOn: [...handOn], stale: [...kept.keys()].filter((k) => !stillRead.has(k)) };
  }
}
