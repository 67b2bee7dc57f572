import type { ModelProto, NodeProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { findAttribute, floatAttribute, intAttribute, intsAttribute, stringAttribute } from '../../formats/onnx/attributes.js';
import { makeNode } from '../../formats/onnx/builders.js';
import type { OnnxDtype } from '../../formats/onnx/onnx-dtypes.js';
import { makeTensor, readTensor } from '../../formats/onnx/tensor.js';
import type { GraphIndex } from './graph.js';
import { allGraphs, indexGraph, NameGenerator, resolveConstant, usesOf } from './graph.js';
import type { GraphEdit } from './graph-edit.js';
import { applyEdits } from './graph-edit.js';
import { opsetVersion } from './opset.js';

/** What raising the opset did: the versions and the nodes rewritten to the newer schemas. */
export interface OpsetUpgrade {
  readonly from: number;
  readonly to: number;
  /** Per op type: how many nodes were rewritten and how (e.g. Clip: "min/max attributes -> inputs"). */
  readonly rewritten: readonly { readonly opType: string; readonly count: number; readonly change: string }[];
}

/** Everything an adapter needs besides the node. */
interface AdaptContext {
  readonly graph: GraphIndex;
  readonly names: NameGenerator;
  /** The opset the model is raised to, and its IR version (which initializers are constants). */
  readonly target: number;
  readonly irVersion: number;
  /** The element type of every float tensor when it can be proven to be float32, else why not. */
  readonly floatType: { ok: true; dtype: 'float32' } | { ok: false; reason: string };
}

/** An adapter's answer: the edits that move the node to the new schema, or why it cannot be moved. */
type Adapted = { readonly edits: GraphEdit[] } | { readonly blocked: string };

/**
 * One ai.onnx schema change at opset `since` that is not backward compatible: a node valid under
 * the older schema is invalid or means something else under the newer one. Changes the ONNX
 * version converter treats as compatible (new optional attributes whose defaults keep the old
 * behaviour, wider type lists, negative axes) are not listed: those nodes keep their meaning.
 */
interface SchemaChange {
  readonly since: number;
  readonly change: string;
  readonly adapt: (node: NodeProto, ctx: AdaptContext) => Adapted;
}

const NO_CHANGE: Adapted = { edits: [] };

/** A Constant node holding `values` (int64 or float32), inserted before `node`; returns its output name. */
function constantBefore(ctx: AdaptContext, node: NodeProto, base: string, dtype: OnnxDtype, dims: number[], values: BigInt64Array | Float32Array, edits: GraphEdit[]): string {
  const out = ctx.names.next(`${node.name || node.opType}_${base}`);
  const value = makeTensor(out, dtype, dims, values);
  edits.push({ kind: 'add-node', graph: ctx.graph.graph, node: makeNode('Constant', [], [out], { name: ctx.names.next(`${out}_Constant`), attributes: { value } }), before: node });
  return out;
}

/** The node with `attributes` removed, `opType` renamed and `inputs` as its input list. */
function rewritten(node: NodeProto, inputs: string[], dropped: readonly string[], opType = node.opType): NodeProto {
  const n = makeNode(opType, inputs, [...node.output], { name: node.name, domain: node.domain });
  n.attribute = node.attribute.filter((a) => !dropped.includes(a.name));
  n.docString = node.docString;
  return n;
}

const int64s = (v: readonly number[]) => BigInt64Array.from(v.map((x) => BigInt(x)));

function blocked(what: string): Adapted {
  return { blocked: what };
}

/**
 * Upsample (opsets 7-9: scales an attribute, then an input) and Resize-10 as Resize-11, which adds a
 * roi input (empty here) and coordinate modes. Before opset 11 the only rule was asymmetric
 * (x_in = x_out / scale); the rounding of nearest was left open by the spec, and onnxruntime rounds
 * down when an axis is enlarged and up when it is shrunk, so nearest_mode is floor when no scale is
 * below 1 and ceil when none is above 1 (a scale of 1 lands on whole coordinates either way). A
 * nearest resize that enlarges one axis and shrinks another, or whose scales are only known at run
 * time, has no Resize-11 form. The tests hold onnxruntime's outputs equal before and after, bit for bit.
 */
function toResize11(node: NodeProto, ctx: AdaptContext): Adapted {
  if (ctx.target < 11) return blocked(`${node.opType} can only be rewritten as Resize-11, above the target opset ${ctx.target}`);
  const mode = stringAttribute(node, 'mode') ?? 'nearest';
  if (mode !== 'nearest' && mode !== 'linear') return blocked(`mode '${mode}' has no Resize-11 equivalent quantkit can prove`);
  const edits: GraphEdit[] = [];
  const attribute = findAttribute(node, 'scales');
  let scalesName: string;
  let scales: readonly number[] | undefined;
  if (attribute) {
    scales = attribute.floats;
    scalesName = constantBefore(ctx, node, 'scales', 'float32', [scales.length], Float32Array.from(scales), edits);
  } else {
    scalesName = node.input[1] ?? '';
    if (!scalesName) return blocked(`${node.opType} without scales is malformed`);
    const source = resolveConstant(ctx.graph, scalesName, ctx.irVersion);
    scales = source ? Array.from(readTensor(source.tensor).values as Float32Array) : undefined;
  }
  const attributes: Record<string, string> = { mode, coordinate_transformation_mode: 'asymmetric' };
  if (mode === 'nearest') {
    if (!scales) return blocked(`its scales '${scalesName}' are computed at run time, and nearest rounds differently for enlarged and shrunk axes before opset 11`);
    if (scales.every((v) => v >= 1)) attributes.nearest_mode = 'floor';
    else if (scales.every((v) => v <= 1)) attributes.nearest_mode = 'ceil';
    else return blocked(`nearest with scales [${scales.join(', ')}] enlarges some axes and shrinks others, which onnxruntime rounds each its own way before opset 11`);
  }
  const roi = constantBefore(ctx, node, 'roi', 'float32', [0], new Float32Array(0), edits);
  const resize = makeNode('Resize', [node.input[0]!, roi, scalesName], [...node.output], { name: node.name, domain: node.domain, attributes });
  resize.docString = node.docString;
  edits.push({ kind: 'replace-node', graph: ctx.graph.graph, node, nodes: [resize] });
  return { edits };
}

/** An `axes` (or `split`) attribute that became an int64 input at `position` (ReduceX, Squeeze, Unsqueeze, Split). */
function attributeToInput(attr: string, position: number, required = false): (node: NodeProto, ctx: AdaptContext) => Adapted {
  return (node, ctx) => {
    const values = intsAttribute(node, attr);
    if (!values) return required ? blocked(`${node.opType} without an '${attr}' attribute is malformed`) : NO_CHANGE;
    const edits: GraphEdit[] = [];
    const inputs = [...node.input];
    while (inputs.length < position) inputs.push('');
    inputs.splice(position, 0, constantBefore(ctx, node, attr, 'int64', [values.length], int64s(values), edits));
    edits.push({ kind: 'replace-node', graph: ctx.graph.graph, node, nodes: [rewritten(node, inputs, [attr])] });
    return { edits };
  };
}

/**
 * Softmax, LogSoftmax and Hardmax before opset 13 flatten the input to 2-D at `axis` (default 1)
 * and normalise over everything from `axis` on; from 13 they normalise along `axis` alone. The exact
 * rewrite: Flatten(axis) -> op(axis -1) -> Reshape to the input's shape. axis -1 is the same either way.
 */
function toSoftmax13(node: NodeProto, ctx: AdaptContext): Adapted {
  const axis = intAttribute(node, 'axis', 1);
  if (axis === -1) return NO_CHANGE;
  const x = node.input[0]!;
  const base = node.name || node.opType;
  const flat = ctx.names.next(`${base}_flat`);
  const shape = ctx.names.next(`${base}_shape`);
  const normalised = ctx.names.next(`${base}_2d`);
  const nodes = [
    makeNode('Flatten', [x], [flat], { name: ctx.names.next(`${base}_Flatten`), attributes: { axis } }),
    makeNode(node.opType, [flat], [normalised], { name: node.name, attributes: { axis: -1 } }),
    makeNode('Shape', [x], [shape], { name: ctx.names.next(`${base}_Shape`) }),
    makeNode('Reshape', [normalised, shape], [...node.output], { name: ctx.names.next(`${base}_Reshape`) }),
  ];
  return { edits: [{ kind: 'replace-node', graph: ctx.graph.graph, node, nodes }] };
}

const REDUCE_18 = ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'] as const;

/**
 * The breaking ai.onnx changes from opset 7 to 21 (the range quantkit raises models across), as
 * the ONNX version converter's adapters list them: attributes that became inputs are rewritten
 * exactly (Constant inputs holding the attribute values); changes with no exact rewrite block the
 * upgrade.
 */
const SCHEMA_CHANGES: Readonly<Record<string, readonly SchemaChange[]>> = {
  BatchNormalization: [
    {
      since: 9,
      change: "attribute 'spatial' removed (always per channel)",
      adapt: (node, ctx) => {
        const spatial = intAttribute(node, 'spatial', 1);
        if (spatial !== 1) return blocked(`spatial = ${spatial} (per-element statistics) has no opset-9 form`);
        if (!findAttribute(node, 'spatial')) return NO_CHANGE;
        return { edits: [{ kind: 'replace-node', graph: ctx.graph.graph, node, nodes: [rewritten(node, [...node.input], ['spatial'])] }] };
      },
    },
    {
      since: 14,
      change: 'statistics outputs only in training mode',
      adapt: (node) => (node.output.slice(1).some(Boolean) ? blocked('its training statistics outputs are read; from opset 14 they exist only in training mode') : NO_CHANGE),
    },
  ],
  Dropout: [
    {
      since: 10,
      change: 'mask output becomes bool',
      adapt: (node, ctx) => {
        const mask = node.output[1];
        if (mask && (usesOf(ctx.graph, mask).length > 0 || allGraphs(ctx.graph).some((g) => g.outputs.has(mask)))) return blocked('its mask output is read, and its type changes from T to bool at opset 10');
        return NO_CHANGE;
      },
    },
    {
      since: 12,
      change: 'ratio attribute -> input',
      adapt: (node, ctx) => {
        if (!findAttribute(node, 'ratio')) return NO_CHANGE;
        // Inference ignores the ratio (training_mode defaults to false): the attribute is dropped, not moved, so no typed input is needed.
        return { edits: [{ kind: 'replace-node', graph: ctx.graph.graph, node, nodes: [rewritten(node, [node.input[0]!], ['ratio'])] }] };
      },
    },
  ],
  Upsample: [{ since: 10, change: 'Upsample -> Resize-11 (asymmetric coordinates)', adapt: (node, ctx) => toResize11(node, ctx) }],
  Scan: [{ since: 9, change: 'batch axis and sequence_lens removed', adapt: () => blocked('Scan lost its batch axis and sequence_lens input at opset 9') }],
  Resize: [
    { since: 11, change: 'Resize-10 -> Resize-11 (roi input, asymmetric coordinates)', adapt: (node, ctx) => toResize11(node, ctx) },
    { since: 13, change: "coordinate mode 'tf_half_pixel_for_nn' removed", adapt: (node) => (stringAttribute(node, 'coordinate_transformation_mode') === 'tf_half_pixel_for_nn' ? blocked("coordinate mode 'tf_half_pixel_for_nn' was removed at opset 13") : NO_CHANGE) },
  ],
  Slice: [
    {
      since: 10,
      change: 'starts/ends/axes attributes -> inputs',
      adapt: (node, ctx) => {
        const starts = intsAttribute(node, 'starts');
        const ends = intsAttribute(node, 'ends');
        if (!starts || !ends) return blocked("Slice-1 without 'starts' and 'ends' attributes is malformed");
        const axes = intsAttribute(node, 'axes');
        const edits: GraphEdit[] = [];
        const inputs = [node.input[0]!, constantBefore(ctx, node, 'starts', 'int64', [starts.length], int64s(starts), edits), constantBefore(ctx, node, 'ends', 'int64', [ends.length], int64s(ends), edits)];
        if (axes) inputs.push(constantBefore(ctx, node, 'axes', 'int64', [axes.length], int64s(axes), edits));
        edits.push({ kind: 'replace-node', graph: ctx.graph.graph, node, nodes: [rewritten(node, inputs, ['starts', 'ends', 'axes'])] });
        return { edits };
      },
    },
  ],
  TopK: [
    {
      since: 10,
      change: 'k attribute -> input',
      adapt: (node, ctx) => {
        const k = intAttribute(node, 'k');
        if (k === undefined) return blocked("TopK-1 without a 'k' attribute is malformed");
        const edits: GraphEdit[] = [];
        const kName = constantBefore(ctx, node, 'k', 'int64', [1], int64s([k]), edits);
        edits.push({ kind: 'replace-node', graph: ctx.graph.graph, node, nodes: [rewritten(node, [node.input[0]!, kName], ['k'])] });
        return { edits };
      },
    },
  ],
  Clip: [
    {
      since: 11,
      change: 'min/max attributes -> inputs',
      adapt: (node, ctx) => {
        const hasMin = !!findAttribute(node, 'min');
        const hasMax = !!findAttribute(node, 'max');
        if (!hasMin && !hasMax) return NO_CHANGE;
        // Clip-11 takes its bounds as tensors of the input's type, which only a proof of float32 fixes.
        if (!ctx.floatType.ok) return blocked(`its min/max become inputs of the input's type, which cannot be determined: ${ctx.floatType.reason}`);
        const edits: GraphEdit[] = [];
        const bound = (name: 'min' | 'max') => constantBefore(ctx, node, name, 'float32', [], new Float32Array([floatAttribute(node, name, 0)]), edits);
        const inputs = [node.input[0]!, hasMin ? bound('min') : ''];
        if (hasMax) inputs.push(bound('max'));
        edits.push({ kind: 'replace-node', graph: ctx.graph.graph, node, nodes: [rewritten(node, inputs, ['min', 'max'])] });
        return { edits };
      },
    },
  ],
  Pad: [
    {
      since: 11,
      change: 'pads/value attributes -> inputs',
      adapt: (node, ctx) => {
        const pads = intsAttribute(node, 'pads');
        if (!pads) return blocked("Pad-2 without a 'pads' attribute is malformed");
        const value = findAttribute(node, 'value') ? floatAttribute(node, 'value', 0) : 0;
        if (value !== 0 && !ctx.floatType.ok) return blocked(`its value becomes an input of the input's type, which cannot be determined: ${ctx.floatType.reason}`);
        const edits: GraphEdit[] = [];
        const inputs = [node.input[0]!, constantBefore(ctx, node, 'pads', 'int64', [pads.length], int64s(pads), edits)];
        if (value !== 0) inputs.push(constantBefore(ctx, node, 'value', 'float32', [], new Float32Array([value]), edits));
        edits.push({ kind: 'replace-node', graph: ctx.graph.graph, node, nodes: [rewritten(node, inputs, ['pads', 'value'])] });
        return { edits };
      },
    },
  ],
  Squeeze: [{ since: 13, change: 'axes attribute -> input', adapt: attributeToInput('axes', 1) }],
  Unsqueeze: [{ since: 13, change: 'axes attribute -> input', adapt: attributeToInput('axes', 1, true) }],
  Split: [{ since: 13, change: 'split attribute -> input', adapt: attributeToInput('split', 1) }],
  ReduceSum: [{ since: 13, change: 'axes attribute -> input', adapt: attributeToInput('axes', 1) }],
  ...Object.fromEntries(REDUCE_18.map((op) => [op, [{ since: 18, change: 'axes attribute -> input', adapt: attributeToInput('axes', 1) }]])),
  Softmax: [{ since: 13, change: 'flatten-at-axis semantics -> Flatten, Softmax(-1), Reshape', adapt: toSoftmax13 }],
  LogSoftmax: [{ since: 13, change: 'flatten-at-axis semantics -> Flatten, LogSoftmax(-1), Reshape', adapt: toSoftmax13 }],
  Hardmax: [{ since: 13, change: 'flatten-at-axis semantics -> Flatten, Hardmax(-1), Reshape', adapt: toSoftmax13 }],
  GridSample: [{ since: 20, change: 'mode names changed', adapt: () => blocked('GridSample renamed its modes at opset 20') }],
  DFT: [{ since: 20, change: 'axis attribute -> input', adapt: () => blocked('DFT moved axis to an input at opset 20') }],
  Scatter: [
    {
      since: 11,
      change: 'renamed ScatterElements',
      adapt: (node, ctx) => ({ edits: [{ kind: 'replace-node', graph: ctx.graph.graph, node, nodes: [rewritten(node, [...node.input], [], 'ScatterElements')] }] }),
    },
  ],
};

/** TensorProto.DataType codes of the floating types: FLOAT, FLOAT16, DOUBLE, BFLOAT16. */
const FLOAT_CODES = new Map([[1, 'float32'], [10, 'float16'], [11, 'float64'], [16, 'bfloat16']]);

/**
 * Proves every floating tensor of the model is float32, or says why it cannot: a tensor's type
 * comes from a graph input, an initializer, a Constant, a Cast target or a dtype attribute (ops of
 * the default domain create no other floating type), so when all of those are float32 so is
 * every float tensor. Ops of other domains may output anything.
 */
function provenFloatType(root: GraphIndex): AdaptContext['floatType'] {
  const seen = new Set<string>();
  const note = (code: number | bigint | undefined) => {
    const t = code === undefined ? undefined : FLOAT_CODES.get(Number(code));
    if (t) seen.add(t);
  };
  for (const g of allGraphs(root)) {
    for (const v of [...g.graph.input, ...g.graph.output, ...g.graph.valueInfo]) {
      const t = v.type?.value;
      if (t?.case === 'tensorType') note(t.value.elemType);
    }
    for (const t of g.graph.initializer) note(t.dataType);
    for (const n of g.graph.node) {
      if (n.domain !== '' && n.domain !== 'ai.onnx') return { ok: false, reason: `node '${n.name || n.opType}' is ${n.domain}.${n.opType}, whose output types quantkit does not know` };
      for (const a of n.attribute) {
        if (a.name === 'to' || a.name === 'dtype') note(a.i);
        if (a.t) note(a.t.dataType);
      }
    }
  }
  const other = [...seen].filter((t) => t !== 'float32');
  return other.length ? { ok: false, reason: `the model has ${other.join(', ')} tensors` } : { ok: true, dtype: 'float32' };
}

/**
 * Raises the model's ai.onnx opset import to `target` in place, rewriting every node whose schema
 * changed incompatibly in between (as ONNX's version converter does: Slice/TopK/Clip/Pad
 * attributes become Constant inputs, Scatter becomes ScatterElements, BatchNormalization loses
 * spatial = 1, Upsample and Resize-10 become Resize-11 with onnxruntime's old coordinate rules), in
 * the main graph and every subgraph. When a node has no exact rewrite (Scan-8, a nearest resize
 * that enlarges and shrinks or whose scales are computed, BatchNormalization with spatial = 0, a
 * Dropout whose mask is read, Clip bounds whose type cannot be proven) nothing changes and
 * UNSUPPORTED names every such node.
 * Example: upgradeOpset(m, 11) on an opset-9 model with Clip(min=0, max=6) gives
 * Clip(x, Constant 0, Constant 6) and { from: 9, to: 11, rewritten: [{ opType: 'Clip', count: 1, … }] }.
 */
export function upgradeOpset(model: ModelProto, target: number): OpsetUpgrade {
  const from = opsetVersion(model, '');
  if (from === undefined) throw new QuantError('UNSUPPORTED', 'the model imports no ai.onnx opset: expected an opset import for the default domain');
  if (from >= target) return { from, to: from, rewritten: [] };
  const root = indexGraph(model.graph!);
  const ctx0 = { names: new NameGenerator(root), floatType: provenFloatType(root), target, irVersion: Number(model.irVersion) };
  const edits: GraphEdit[] = [];
  const problems: string[] = [];
  const counts = new Map<string, { opType: string; count: number; change: string }>();
  for (const g of allGraphs(root)) {
    for (const node of g.graph.node) {
      if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
      for (const c of SCHEMA_CHANGES[node.opType] ?? []) {
        if (c.since <= from || c.since > target) continue;
        const r = c.adapt(node, { ...ctx0, graph: g });
        if ('blocked' in r) {
          problems.push(`${node.opType} '${node.name || node.output[0]}': ${r.blocked}`);
          continue;
        }
        if (!r.edits.length) continue;
        edits.push(...r.edits);
        const key = `${node.opType}:${c.change}`;
        const e = counts.get(key) ?? { opType: node.opType, count: 0, change: c.change };
        e.count++;
        counts.set(key, e);
      }
    }
  }
  if (problems.length) {
    const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '');
    throw new QuantError(
      'UNSUPPORTED',
      `the model is ai.onnx opset ${from} and this mode needs opset ${target}, but raising it would change or break ${problems.length} node(s): ${shown}. Convert the model to opset ${target} first (onnx.version_converter), or use weight-only mode, which works at opset ${from}`,
    );
  }
  applyEdits(model, edits);
  for (const o of model.opsetImport) if (o.domain === '' || o.domain === 'ai.onnx') o.version = BigInt(target);
  return { from, to: target, rewritten: [...counts.values()] };
}

/** The loud one-line account of an upgrade, for reports and stderr. */
export function describeOpsetUpgrade(u: OpsetUpgrade, why: string): string {
  const what = u.rewritten.length ? u.rewritten.map((r) => `${r.count} ${r.opType} (${r.change})`).join(', ') : 'no node needed rewriting';
  return `OPSET RAISED: ai.onnx opset ${u.from} -> ${u.to} (${why}, as onnxruntime's quantizer does); rewritten to the opset-${u.to} schemas: ${what}; no other op in the graph changes meaning between the two opsets. Compare the result with the original (quantkit onnx compare).`;
}
