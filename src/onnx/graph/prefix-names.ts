import { clone } from '@bufbuild/protobuf';
import type { GraphProto } from 'onnx-buf';
import { GraphProtoSchema } from 'onnx-buf';

/**
 * A copy of `graph` with every value name (node inputs and outputs, initializers, value infos,
 * graph outputs, and the same inside every subgraph, formal inputs included) and node name
 * prefixed with `prefix`, except the names in `shared`: those keep their name and so read the
 * same value as in `graph` when the copy's nodes are put beside the original's (two models in
 * one run sharing their inputs). Renaming every name, not only the main graph's, keeps a
 * subgraph's references to enclosing values consistent without resolving scopes. Example:
 * prefixNames(g, 'float/', new Set(['x'])) reads `x` and computes 'float/y' where g computed 'y'.
 */
export function prefixNames(graph: GraphProto, prefix: string, shared: ReadonlySet<string>): GraphProto {
  const out = clone(GraphProtoSchema, graph);
  renameInPlace(out, (n) => (n === '' || shared.has(n) ? n : prefix + n), prefix);
  return out;
}

function renameInPlace(g: GraphProto, name: (n: string) => string, prefix: string): void {
  g.name = prefix + g.name;
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) v.name = name(v.name);
  for (const t of g.initializer) t.name = name(t.name);
  for (const s of g.sparseInitializer) {
    if (s.values) s.values.name = name(s.values.name);
    if (s.indices) s.indices.name = name(s.indices.name);
  }
  for (const n of g.node) {
    if (n.name) n.name = prefix + n.name;
    n.input = n.input.map(name);
    n.output = n.output.map(name);
    for (const a of n.attribute) for (const sub of a.g ? [a.g, ...a.graphs] : a.graphs) renameInPlace(sub, name, prefix);
  }
}
