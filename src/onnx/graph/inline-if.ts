import { clone } from '@bufbuild/protobuf';
import type { GraphProto, ModelProto, NodeProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { makeNode } from '../../formats/onnx/builders.js';
import { subgraphsOf } from '../../formats/onnx/attributes.js';
import { definedIn } from './graph.js';

/** A copy of a model with some If nodes replaced by the nodes of one of their branches. */
export interface InlinedModel {
  readonly model: ModelProto;
  /** Each node of the source model → its copy in `model` (nodes of a dropped branch map to copies no longer in `model`). */
  readonly nodes: ReadonlyMap<NodeProto, NodeProto>;
  /** The copies that sit in the main graph of `model` (their inputs and outputs are main-graph values). */
  readonly mainNodes: ReadonlySet<NodeProto>;
}

/** Pairs every node of `a` with the node at the same place in `b` (a clone of `a`), subgraphs included. */
export function pairNodes(a: GraphProto, b: GraphProto, out = new Map<NodeProto, NodeProto>()): Map<NodeProto, NodeProto> {
  a.node.forEach((n, i) => {
    const m = b.node[i]!;
    out.set(n, m);
    const sa = subgraphsOf(n);
    const sb = subgraphsOf(m);
    sa.forEach((g, k) => pairNodes(g, sb[k]!, out));
  });
  return out;
}

/** Counts every definition of every name in the model (a name defined twice, in sibling branches, counts twice). */
function countDefinitions(g: GraphProto, counts: Map<string, number>): void {
  for (const name of definedIn(g)) counts.set(name, (counts.get(name) ?? 0) + 1);
  for (const n of g.node) for (const s of subgraphsOf(n)) countDefinitions(s, counts);
}

/** Renames references in `g` and below, except where a graph defines the name itself (shadowing the renamed one). */
function renameReferences(g: GraphProto, map: ReadonlyMap<string, string>, top: boolean): void {
  let m = map;
  if (!top) {
    const local = definedIn(g);
    if ([...map.keys()].some((k) => local.has(k))) m = new Map([...map].filter(([k]) => !local.has(k)));
  }
  if (m.size === 0) return;
  for (const n of g.node) {
    n.input = n.input.map((i) => m.get(i) ?? i);
    for (const s of subgraphsOf(n)) renameReferences(s, m, false);
  }
  for (const v of g.output) v.name = m.get(v.name) ?? v.name;
}

/**
 * A copy of `model` in which every If node of the main graph for which `choose` (given the node of
 * the SOURCE model) says true (then branch) or false (else branch) is replaced by that branch's
 * nodes, followed by one Identity per If output from the branch's output; Ifs inside an inlined
 * branch are offered to `choose` in turn, so nested Ifs unfold as deep as `choose` decides. The
 * branch's initializers move to the main graph; a name the branch defines that is defined anywhere
 * else in the model is renamed (sibling branches may reuse names), and its references inside the
 * branch, nested subgraphs included, follow. References to outer scopes stay valid, since a branch
 * only sees names of the graphs that enclose it. Main-graph initializers no node reads any more
 * (those of dropped branches) are left out. The copy is for running, not for writing: the source
 * model keeps its Ifs.
 */
export function inlineIfs(model: ModelProto, choose: (sourceIf: NodeProto) => boolean | undefined): InlinedModel {
  const copy = clone(ModelProtoSchema, model);
  const main = copy.graph!;
  const nodes = pairNodes(model.graph!, main);
  const sourceOf = new Map<NodeProto, NodeProto>([...nodes].map(([s, c]) => [c, s]));
  const counts = new Map<string, number>();
  countDefinitions(main, counts);
  const taken = new Set(counts.keys());
  for (const n of [...nodes.values()]) if (n.name) taken.add(n.name);
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    return name;
  };

  const out: NodeProto[] = [];
  const queue = [...main.node];
  while (queue.length) {
    const node = queue.shift()!;
    const source = sourceOf.get(node);
    const branch = node.opType === 'If' && node.domain === '' && source ? choose(source) : undefined;
    if (branch === undefined) {
      out.push(node);
      continue;
    }
    const g = node.attribute.find((a) => a.name === (branch ? 'then_branch' : 'else_branch'))?.g;
    if (!g) {
      out.push(node);
      continue;
    }
    const renames = new Map<string, string>();
    for (const name of definedIn(g)) {
      if ((counts.get(name) ?? 0) > 1) {
        counts.set(name, counts.get(name)! - 1);
        renames.set(name, fresh(name));
      }
    }
    if (renames.size) {
      renameReferences(g, renames, true);
      for (const n of g.node) n.output = n.output.map((o) => renames.get(o) ?? o);
      for (const t of g.initializer) t.name = renames.get(t.name) ?? t.name;
      for (const s of g.sparseInitializer) if (s.values) s.values.name = renames.get(s.values.name) ?? s.values.name;
      for (const v of g.valueInfo) v.name = renames.get(v.name) ?? v.name;
    }
    main.initializer.push(...g.initializer);
    main.sparseInitializer.push(...g.sparseInitializer);
    main.valueInfo.push(...g.valueInfo);
    // Identity keeps the branch's own value names intact: a weight op's input stays the name it had inside the branch.
    const tail = g.output.flatMap((v, i) => (node.output[i] ? [makeNode('Identity', [v.name], [node.output[i]!], { name: fresh(`${node.name || 'If'}_out${i}`) })] : []));
    queue.unshift(...g.node, ...tail);
  }
  main.node = out;
  // Initializers of the main graph only a dropped branch read would make the runtime warn about each of them.
  const used = new Set(main.output.map((v) => v.name));
  const collect = (g: GraphProto): void => {
    for (const n of g.node) {
      for (const i of n.input) used.add(i);
      for (const s of subgraphsOf(n)) collect(s);
    }
    for (const v of g.output) used.add(v.name);
  };
  collect(main);
  const inputs = new Set(main.input.map((v) => v.name));
  main.initializer = main.initializer.filter((t) => used.has(t.name) || inputs.has(t.name));
  return { model: copy, nodes, mainNodes: new Set(out) };
}
