import type { GraphProto, NodeProto, TensorProto, ValueInfoProto } from 'onnx-buf';
import { subgraphsOf } from '../../formats/onnx/attributes.js';
import { constantNodeTensor } from './constant-node.js';

/**
 * Lookups over one GraphProto, built once: who produces a name, who consumes it, its initializer,
 * value info, and the enclosing scope for If/Loop/Scan bodies (which may use any name of an outer
 * graph). Indexes are snapshots: after applyEdits, index the graph again.
 */
export interface GraphIndex {
  readonly graph: GraphProto;
  /** The graph whose node carries this one as an attribute (undefined for the main graph). */
  readonly parent: GraphIndex | undefined;
  /** The node of `parent` that carries this graph. */
  readonly owner: NodeProto | undefined;
  readonly producers: ReadonlyMap<string, NodeProto>;
  /** Direct consumers in this graph (a node listed once per input position that uses the name). */
  readonly consumers: ReadonlyMap<string, readonly NodeProto[]>;
  readonly initializers: ReadonlyMap<string, TensorProto>;
  readonly valueInfos: ReadonlyMap<string, ValueInfoProto>;
  readonly inputs: ReadonlySet<string>;
  readonly outputs: ReadonlySet<string>;
  /** Indexes of the graphs carried by this graph's nodes, in node order. */
  readonly children: readonly GraphIndex[];
}

/** Indexes a graph and, recursively, every subgraph of its nodes. */
export function indexGraph(graph: GraphProto, parent?: GraphIndex, owner?: NodeProto): GraphIndex {
  const producers = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const node of graph.node) {
    for (const o of node.output) if (o) producers.set(o, node);
    for (const i of node.input) {
      if (!i) continue;
      const list = consumers.get(i);
      if (list) list.push(node);
      else consumers.set(i, [node]);
    }
  }
  const valueInfos = new Map<string, ValueInfoProto>();
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) valueInfos.set(v.name, v);
  const children: GraphIndex[] = [];
  const index: GraphIndex = {
    graph,
    parent,
    owner,
    producers,
    consumers,
    initializers: new Map(graph.initializer.map((t) => [t.name, t])),
    valueInfos,
    inputs: new Set(graph.input.map((v) => v.name)),
    outputs: new Set(graph.output.map((v) => v.name)),
    children,
  };
  for (const node of graph.node) for (const g of subgraphsOf(node)) children.push(indexGraph(g, index, node));
  return index;
}

/** Every graph index, the main graph first, then subgraphs depth first. */
export function allGraphs(root: GraphIndex): GraphIndex[] {
  const out: GraphIndex[] = [];
  const visit = (g: GraphIndex): void => {
    out.push(g);
    for (const c of g.children) visit(c);
  };
  visit(root);
  return out;
}

/** True when `graph` defines `name` itself (initializer, graph input or node output), shadowing outer scopes. */
function definesLocally(index: GraphIndex, name: string): boolean {
  return index.initializers.has(name) || index.inputs.has(name) || index.producers.has(name);
}

/** A constant value a name resolves to, and where it is defined. */
export interface ConstantSource {
  readonly tensor: TensorProto;
  /** Where the name is defined: an initializer of `scope`, or the output of a Constant node of `scope`. */
  readonly kind: 'initializer' | 'constant-node';
  readonly scope: GraphIndex;
  /** The Constant node, for kind 'constant-node'. */
  readonly node: NodeProto | undefined;
}

/**
 * The constant behind `name` as seen from `index`: an initializer or Constant node of this graph
 * or, through outer scopes, of an enclosing graph. An initializer that is also a graph input of
 * the main graph can be overridden at run time, so it is not a constant (IR < 4 models list every
 * initializer as an input: those are constants; the rule applies from IR 4). Graph inputs of a
 * subgraph (loop-carried values) are never constants.
 */
export function resolveConstant(index: GraphIndex, name: string, irVersion = 8): ConstantSource | undefined {
  for (let g: GraphIndex | undefined = index; g; g = g.parent) {
    if (!definesLocally(g, name)) continue;
    const init = g.initializers.get(name);
    if (init) {
      if (g.inputs.has(name) && (g.parent !== undefined || irVersion >= 4)) return undefined;
      return { tensor: init, kind: 'initializer', scope: g, node: undefined };
    }
    const producer = g.producers.get(name);
    if (producer && producer.opType === 'Constant' && producer.domain === '') {
      const tensor = constantNodeTensor(producer);
      return tensor ? { tensor, kind: 'constant-node', scope: g, node: producer } : undefined;
    }
    return undefined;
  }
  return undefined;
}

/** Uses of `name` as defined in `scope`: consumers in that graph and in nested graphs that do not shadow it. */
export function usesOf(scope: GraphIndex, name: string): { node: NodeProto; graph: GraphIndex }[] {
  const out: { node: NodeProto; graph: GraphIndex }[] = [];
  const visit = (g: GraphIndex, top: boolean): void => {
    if (!top && definesLocally(g, name)) return;
    for (const n of g.consumers.get(name) ?? []) if (!out.some((u) => u.node === n)) out.push({ node: n, graph: g });
    for (const c of g.children) visit(c, false);
  };
  visit(scope, true);
  return out;
}

/**
 * Fresh names: every name used anywhere in the model (nodes, values, initializers, subgraphs) is
 * taken, and each call returns `base` or `base_1`, `base_2`, … not taken yet.
 */
export class NameGenerator {
  private readonly taken = new Set<string>();

  constructor(root: GraphIndex) {
    for (const g of allGraphs(root)) {
      for (const n of g.graph.node) {
        if (n.name) this.taken.add(n.name);
        for (const s of [...n.input, ...n.output]) if (s) this.taken.add(s);
      }
      for (const t of g.graph.initializer) this.taken.add(t.name);
      for (const v of g.valueInfos.keys()) this.taken.add(v);
    }
  }

  next(base: string): string {
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }
}

/** Names a graph defines itself: its inputs, initializers and node outputs. */
export function definedIn(g: GraphProto): Set<string> {
  const out = new Set<string>();
  for (const v of g.input) out.add(v.name);
  for (const t of g.initializer) out.add(t.name);
  for (const s of g.sparseInitializer) if (s.values?.name) out.add(s.values.name);
  for (const n of g.node) for (const o of n.output) if (o) out.add(o);
  return out;
}
