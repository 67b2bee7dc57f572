import { create } from '@bufbuild/protobuf';
import type { GraphProto, NodeProto, ValueInfoProto } from 'onnx-buf';
import { GraphProtoSchema } from 'onnx-buf';
import { subgraphsOf } from '../../formats/onnx/attributes.js';
import { definedIn } from './graph.js';

/** Names of enclosing scopes that `g` (nodes, nested subgraphs and outputs) reads without defining them. */
function outerReads(g: GraphProto): Set<string> {
  const local = definedIn(g);
  const out = new Set<string>();
  const add = (name: string): void => {
    if (name && !local.has(name)) out.add(name);
  };
  for (const n of g.node) {
    for (const i of n.input) add(i);
    for (const s of subgraphsOf(n)) for (const i of outerReads(s)) add(i);
  }
  for (const v of g.output) add(v.name);
  return out;
}

/**
 * Every name a node reads when it runs: its inputs and the outer-scope names its If, Loop or Scan
 * bodies use (a body may read any value of the graphs enclosing it without listing it as an input).
 */
export function nodeReads(node: NodeProto): string[] {
  const out = new Set(node.input.filter((i) => i !== ''));
  for (const s of subgraphsOf(node)) for (const i of outerReads(s)) out.add(i);
  return [...out];
}

/** A graph cut down to what computes some of its values. */
export interface PrunedGraph {
  /** A new GraphProto sharing the source's nodes, initializers and value infos (not copies: do not edit them through it). */
  readonly graph: GraphProto;
  /** The values of `feeds` the pruned graph takes as inputs (a fed value whose producer is kept anyway is computed, not fed). */
  readonly fed: readonly string[];
}

/**
 * `graph` cut down to the nodes `outputs` depend on, in their original order: onnxruntime runs
 * every node of a session's graph whatever outputs a run fetches, so a run that needs a prefix of
 * the model pays for all of it unless the rest is gone. `feeds` are values the caller will supply
 * as extra graph inputs (computed earlier): the walk stops there instead of at their producers.
 * The graph inputs all stay (a run is fed the same inputs as the full model); initializers stay
 * when a kept node reads them or when they are graph inputs (IR < 4 defaults); value infos only of
 * values still defined. The graph's outputs become `outputs`.
 *
 * Example: pruneToAncestors(g, [makeValueInfo('conv3_in', 'float32')]) keeps the nodes computing
 * 'conv3_in' and drops conv3 and everything after it.
 */
export function pruneToAncestors(graph: GraphProto, outputs: readonly ValueInfoProto[], feeds: ReadonlyMap<string, ValueInfoProto> = new Map()): PrunedGraph {
  const producers = new Map<string, NodeProto>();
  for (const n of graph.node) for (const o of n.output) if (o) producers.set(o, n);
  const inputs = new Set(graph.input.map((v) => v.name));
  const kept = new Set<NodeProto>();
  const reached = new Set<string>();
  const stack = outputs.map((v) => v.name);
  while (stack.length) {
    const name = stack.pop()!;
    if (reached.has(name)) continue;
    reached.add(name);
    if (feeds.has(name) || inputs.has(name)) continue;
    const p = producers.get(name);
    if (!p || kept.has(p)) continue;
    kept.add(p);
    stack.push(...nodeReads(p));
  }
  const nodes = graph.node.filter((n) => kept.has(n));
  const defined = new Set(nodes.flatMap((n) => n.output.filter((o) => o !== '')));
  const fed = [...feeds.keys()].filter((f) => reached.has(f) && !defined.has(f) && !inputs.has(f));
  const keep = (name: string): boolean => reached.has(name) || inputs.has(name);
  return {
    graph: create(GraphProtoSchema, {
      name: graph.name,
      docString: graph.docString,
      node: nodes,
      initializer: graph.initializer.filter((t) => keep(t.name) && !fed.includes(t.name)),
      sparseInitializer: graph.sparseInitializer.filter((s) => keep(s.values?.name ?? '')),
      input: [...graph.input, ...fed.map((f) => feeds.get(f)!)],
      output: [...outputs],
      valueInfo: graph.valueInfo.filter((v) => defined.has(v.name)),
      quantizationAnnotation: graph.quantizationAnnotation.filter((a) => defined.has(a.tensorName) || keep(a.tensorName)),
      metadataProps: graph.metadataProps,
    }),
    fed,
  };
}
