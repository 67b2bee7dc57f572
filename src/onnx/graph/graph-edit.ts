import { create } from '@bufbuild/protobuf';
import type { GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from 'onnx-buf';
import { OperatorSetIdProtoSchema } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';

/**
 * One change to a model. Handlers return edits instead of mutating the model, so a handler can be
 * tested by its output alone and one applyEdits does all changes in a single pass per graph.
 * Graphs and nodes are named by object identity (the GraphProto / NodeProto of the model).
 */
export type GraphEdit =
  | { readonly kind: 'add-initializer'; readonly graph: GraphProto; readonly tensor: TensorProto }
  | { readonly kind: 'remove-initializer'; readonly graph: GraphProto; readonly name: string }
  /** Inserts a node right before `before` (keeps topological order), or at the start or end of the graph. */
  | { readonly kind: 'add-node'; readonly graph: GraphProto; readonly node: NodeProto; readonly before: NodeProto | 'start' | 'end' }
  | { readonly kind: 'remove-node'; readonly graph: GraphProto; readonly node: NodeProto }
  /** Replaces a node in place by zero or more nodes. */
  | { readonly kind: 'replace-node'; readonly graph: GraphProto; readonly node: NodeProto; readonly nodes: readonly NodeProto[] }
  | { readonly kind: 'set-input'; readonly node: NodeProto; readonly index: number; readonly name: string }
  | { readonly kind: 'add-output'; readonly graph: GraphProto; readonly value: ValueInfoProto }
  | { readonly kind: 'add-value-info'; readonly graph: GraphProto; readonly value: ValueInfoProto }
  /** Imports `domain` at `version` (replacing an older import; a newer one is kept). */
  | { readonly kind: 'set-opset'; readonly domain: string; readonly version: number };

interface GraphPlan {
  before: Map<NodeProto, NodeProto[]>;
  start: NodeProto[];
  end: NodeProto[];
  remove: Set<NodeProto>;
  replace: Map<NodeProto, readonly NodeProto[]>;
  addInit: TensorProto[];
  removeInit: Set<string>;
  outputs: ValueInfoProto[];
  valueInfos: ValueInfoProto[];
}

function planFor(plans: Map<GraphProto, GraphPlan>, g: GraphProto): GraphPlan {
  let p = plans.get(g);
  if (!p) {
    p = { before: new Map(), start: [], end: [], remove: new Set(), replace: new Map(), addInit: [], removeInit: new Set(), outputs: [], valueInfos: [] };
    plans.set(g, p);
  }
  return p;
}

function nodeLabel(n: NodeProto): string {
  return n.name ? `'${n.name}'` : `${n.opType} (unnamed)`;
}

/**
 * Applies edits to `model` in place and returns it. Inconsistent edits are errors
 * (INVALID_ARGUMENT) raised before anything changes: a node removed or replaced twice, an input
 * index out of range, a node or initializer that is not in its graph, an initializer added twice.
 */
export function applyEdits(model: ModelProto, edits: readonly GraphEdit[]): ModelProto {
  const plans = new Map<GraphProto, GraphPlan>();
  const opsets = new Map<string, number>();
  const inputs: Extract<GraphEdit, { kind: 'set-input' }>[] = [];
  for (const e of edits) {
    switch (e.kind) {
      case 'add-initializer':
        planFor(plans, e.graph).addInit.push(e.tensor);
        break;
      case 'remove-initializer':
        planFor(plans, e.graph).removeInit.add(e.name);
        break;
      case 'add-node': {
        const p = planFor(plans, e.graph);
        if (e.before === 'start') p.start.push(e.node);
        else if (e.before === 'end') p.end.push(e.node);
        else {
          const list = p.before.get(e.before);
          if (list) list.push(e.node);
          else p.before.set(e.before, [e.node]);
        }
        break;
      }
      case 'remove-node':
      case 'replace-node': {
        const p = planFor(plans, e.graph);
        if (p.remove.has(e.node) || p.replace.has(e.node)) throw new QuantError('INVALID_ARGUMENT', `node ${nodeLabel(e.node)} is removed or replaced by two edits`);
        if (e.kind === 'remove-node') p.remove.add(e.node);
        else p.replace.set(e.node, e.nodes);
        break;
      }
      case 'set-input':
        if (!Number.isInteger(e.index) || e.index < 0 || e.index >= e.node.input.length) {
          throw new QuantError('INVALID_ARGUMENT', `node ${nodeLabel(e.node)} has ${e.node.input.length} inputs, cannot set input ${e.index}`);
        }
        inputs.push(e);
        break;
      case 'add-output':
        planFor(plans, e.graph).outputs.push(e.value);
        break;
      case 'add-value-info':
        planFor(plans, e.graph).valueInfos.push(e.value);
        break;
      case 'set-opset':
        opsets.set(e.domain, Math.max(opsets.get(e.domain) ?? 0, e.version));
        break;
    }
  }
  for (const [g, p] of plans) checkPlan(g, p);
  for (const e of inputs) e.node.input[e.index] = e.name;
  for (const [g, p] of plans) applyPlan(g, p);
  for (const [domain, version] of opsets) {
    const existing = model.opsetImport.find((o) => o.domain === domain);
    if (!existing) model.opsetImport.push(create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) }));
    else if (existing.version < BigInt(version)) existing.version = BigInt(version);
  }
  return model;
}

function checkPlan(g: GraphProto, p: GraphPlan): void {
  const nodes = new Set(g.node);
  for (const n of [...p.remove, ...p.replace.keys(), ...p.before.keys()]) {
    if (!nodes.has(n)) throw new QuantError('INVALID_ARGUMENT', `node ${nodeLabel(n)} is not in graph '${g.name}'`);
  }
  const names = new Set(g.initializer.map((t) => t.name));
  for (const name of p.removeInit) {
    if (!names.has(name)) throw new QuantError('INVALID_ARGUMENT', `graph '${g.name}' has no initializer '${name}' to remove`);
  }
  for (const name of p.removeInit) names.delete(name);
  for (const t of p.addInit) {
    if (names.has(t.name)) throw new QuantError('INVALID_ARGUMENT', `graph '${g.name}' already has an initializer '${t.name}'`);
    names.add(t.name);
  }
}

function applyPlan(g: GraphProto, p: GraphPlan): void {
  if (p.start.length || p.end.length || p.before.size || p.remove.size || p.replace.size) {
    const out: NodeProto[] = [...p.start];
    for (const n of g.node) {
      const pre = p.before.get(n);
      if (pre) out.push(...pre);
      if (p.remove.has(n)) continue;
      const rep = p.replace.get(n);
      if (rep) out.push(...rep);
      else out.push(n);
    }
    out.push(...p.end);
    g.node = out;
  }
  if (p.removeInit.size) {
    g.initializer = g.initializer.filter((t) => !p.removeInit.has(t.name));
    // An initializer listed as a graph input (IR < 4 style) would otherwise become a required input.
    g.input = g.input.filter((v) => !p.removeInit.has(v.name));
  }
  if (p.addInit.length) g.initializer.push(...p.addInit);
  if (p.outputs.length) g.output.push(...p.outputs);
  if (p.valueInfos.length) g.valueInfo.push(...p.valueInfos);
}
