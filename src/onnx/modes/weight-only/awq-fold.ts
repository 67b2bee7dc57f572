import type { NodeProto } from 'onnx-buf';
import { findAttribute, intAttribute } from '../../../formats/onnx/attributes.js';
import { onnxDtypeOf } from '../../../formats/onnx/onnx-dtypes.js';
import { float32ToFloat16Bits } from '../../../core/float16.js';
import { isExternal, makeTensor, readFloat32, tensorDims } from '../../../formats/onnx/tensor.js';
import type { ConstantSource, GraphIndex, NameGenerator } from '../../graph/graph.js';
import { resolveConstant, usesOf } from '../../graph/graph.js';
import type { GraphEdit } from '../../graph/graph-edit.js';
import { opSpecOf } from '../../graph/op-specs.js';
import { scaleChannels, writeFloatValues } from '../../graph/scale-channels.js';
import { nodeName } from '../../quantize-report.js';

/** Where an activation's channels lie: axis `axis` of its `rank` dims, `channels` long. */
export interface ChannelSpec {
  readonly axis: number;
  readonly rank: number;
  readonly channels: number;
}

/** One constant input of a node rescaled along the activation's channels. */
export interface FoldAction {
  readonly node: NodeProto;
  readonly input: number;
  readonly source: ConstantSource;
  /** Dims of the rescaled constant: its own when it already holds one value per channel, else broadcast out to them. */
  readonly dims: readonly number[];
  /** The axis of `dims` along the channels. */
  readonly axis: number;
  /** 'divide': c / s (c scales or offsets the activation); 'multiply': c · s (c divides it). */
  readonly op: 'divide' | 'multiply';
}

/** How dividing x's channels by s reaches constants: what to rescale, and the nodes it passes through or lands in (x's producer first). */
export interface FoldPath {
  readonly actions: readonly FoldAction[];
  readonly nodes: readonly NodeProto[];
}

export type FoldTrace = { readonly ok: true; readonly path: FoldPath } | { readonly ok: false; readonly reason: string };

/** What tracing reads: the main graph, the IR version (for constants), and the dims each run-time tensor had on a calibration batch. */
export interface FoldContext {
  readonly root: GraphIndex;
  readonly ir: number;
  readonly shapes: ReadonlyMap<string, readonly number[]>;
}

/** Ops that read only an input's shape: they may keep reading x after its channels are rescaled. */
const SHAPE_ONLY = new Set(['Shape', 'Size']);

/**
 * Ops a per-channel scale s > 0 passes through unchanged, f(x / s) = f(x) / s per channel:
 * 'elementwise' keeps every axis (Relu and LeakyRelu are positively homogeneous, PRelu's slope
 * multiplies), 'spatial' pools over the axes after the channel axis 1 (a max or mean of a channel
 * divided by a positive constant is divided by it). Sigmoid, Tanh, Gelu, HardSwish, Clip and the
 * like are not homogeneous: nothing passes them.
 */
const PASS_THROUGH: Readonly<Record<string, 'elementwise' | 'spatial'>> = {
  Relu: 'elementwise',
  LeakyRelu: 'elementwise',
  PRelu: 'elementwise',
  Identity: 'elementwise',
  MaxPool: 'spatial',
  AveragePool: 'spatial',
  GlobalAveragePool: 'spatial',
  GlobalMaxPool: 'spatial',
};

/** Deeper producer chains are left alone (bounds the walk; real chains are a few nodes). */
const MAX_DEPTH = 32;

const fail = (reason: string): FoldTrace => ({ ok: false, reason });
const label = (n: NodeProto): string => `${nodeName(n)} (${n.opType})`;

/**
 * Why a tensor cannot be rescaled for the sake of `allowed` alone: it is a graph output, or another
 * node reads it (ops reading only its shape are fine for an activation, `shapeReaders`, not for a
 * constant rewritten in place: they would see its new dims).
 */
function otherReaders(ctx: FoldContext, t: string, allowed: (node: NodeProto, input: number) => boolean, shapeReaders = true): string | undefined {
  if (ctx.root.outputs.has(t)) return `'${t}' is a graph output`;
  for (const { node } of usesOf(ctx.root, t)) {
    if (shapeReaders && SHAPE_ONLY.has(node.opType) && node.domain === '') continue;
    for (let i = 0; i < node.input.length; i++) if (node.input[i] === t && !allowed(node, i)) return `'${t}' also feeds ${label(node)}`;
  }
  return undefined;
}

/** True when input `input` of node is the only reader of the constant `name` (it may be rewritten in place). */
function soleUse(ctx: FoldContext, name: string, node: NodeProto, input: number): boolean {
  return otherReaders(ctx, name, (n, i) => n === node && i === input, false) === undefined;
}

/** True when input `i` is a weight or bias weight-only mode may quantize: it is rescaled in place (its plan keeps the name), never re-pointed. */
function isWeightInput(node: NodeProto, i: number): boolean {
  const spec = opSpecOf(node);
  return !!spec && (spec.weights.some((w) => w.input === i) || spec.bias === i);
}

/**
 * The action rescaling constant input `i` of `node`, broadcast against the activation of `spec`
 * (the node's output): its dim on the channel axis must be the channel count (rescaled as is) or
 * 1 (broadcast out to one value per channel); `pad` lets a constant of too low a rank gain leading
 * axes (an elementwise operand; a LayerNormalization scale must keep its rank).
 */
function constantAction(ctx: FoldContext, node: NodeProto, i: number, spec: ChannelSpec, op: FoldAction['op'], pad: boolean): FoldAction | string {
  const name = node.input[i]!;
  const source = resolveConstant(ctx.root, name, ctx.ir);
  if (!source) return `input '${name}' of ${label(node)} is computed at run time`;
  const dtype = onnxDtypeOf(source.tensor.dataType);
  if (dtype !== 'float32' && dtype !== 'float16') return `constant '${name}' of ${label(node)} is ${dtype}, not float`;
  if (isExternal(source.tensor)) return `constant '${name}' of ${label(node)} is stored in external data`;
  const cDims = tensorDims(source.tensor);
  if (cDims.length > spec.rank) return `constant '${name}' of ${label(node)} has rank ${cDims.length} > the activation's ${spec.rank}`;
  const at = spec.axis - (spec.rank - cDims.length);
  let dims: number[];
  let axis: number;
  if (at >= 0) {
    if (cDims[at] !== spec.channels && cDims[at] !== 1) return `constant '${name}' of ${label(node)} has ${cDims[at]} values along the channel axis, expected ${spec.channels} or 1`;
    dims = cDims.map((d, k) => (k === at ? spec.channels : d));
    axis = at;
  } else {
    if (!pad) return `constant '${name}' of ${label(node)} does not reach the channel axis`;
    dims = [spec.channels, ...new Array<number>(-at - 1).fill(1), ...cDims];
    axis = 0;
  }
  const reshaped = dims.length !== cDims.length || dims.some((d, k) => d !== cDims[k]);
  const inPlace = !reshaped && source.scope === ctx.root && soleUse(ctx, name, node, i) && (source.kind === 'initializer' || !!findAttribute(source.node!, 'value')?.t);
  if (isWeightInput(node, i) && !inPlace) return `weight '${name}' of ${label(node)} is shared, stored in an outer scope or not one value per channel: it cannot be rescaled in place`;
  return { node, input: i, source, dims, axis, op };
}

/** The spec of a run-time operand of an elementwise node whose output has `spec`: it must carry every channel itself (not broadcast along them). */
function operandSpec(ctx: FoldContext, node: NodeProto, i: number, spec: ChannelSpec): ChannelSpec | string {
  const name = node.input[i]!;
  const dims = ctx.shapes.get(name);
  if (!dims) return `the shape of '${name}' is unknown`;
  const axis = spec.axis - (spec.rank - dims.length);
  if (axis < 0 || dims[axis] !== spec.channels) return `'${name}' (dims [${dims.join(', ')}]) is broadcast along the channels of ${label(node)}`;
  return { axis, rank: dims.length, channels: spec.channels };
}

/** Continues the trace into run-time input `i` of `node`, which must feed nothing else. */
function through(ctx: FoldContext, node: NodeProto, i: number, spec: ChannelSpec, depth: number): FoldTrace {
  const name = node.input[i]!;
  const why = otherReaders(ctx, name, (n, k) => n === node && k === i);
  if (why) return fail(why);
  const s = operandSpec(ctx, node, i, spec);
  if (typeof s === 'string') return fail(s);
  return traceProducer(ctx, name, s, depth + 1);
}

const combine = (node: NodeProto, actions: readonly FoldAction[], inner: readonly FoldPath[]): FoldTrace => ({
  ok: true,
  path: { actions: [...actions, ...inner.flatMap((p) => p.actions)], nodes: [node, ...inner.flatMap((p) => p.nodes)] },
});

function terminal(node: NodeProto, actions: (FoldAction | string | undefined)[]): FoldTrace {
  const bad = actions.find((a): a is string => typeof a === 'string');
  if (bad) return fail(bad);
  return combine(node, actions.filter((a): a is FoldAction => a !== undefined), []);
}

/** Rescales a constant along one of its own axes, which must hold exactly `channels` values (a weight's output channels, a normalization's scale). */
function ownAxisAction(ctx: FoldContext, node: NodeProto, i: number, axis: number, channels: number): FoldAction | string | undefined {
  if (!node.input[i]) return undefined;
  const source = resolveConstant(ctx.root, node.input[i]!, ctx.ir);
  if (!source) return `input '${node.input[i]}' of ${label(node)} is computed at run time`;
  const dims = tensorDims(source.tensor);
  const k = axis < 0 ? dims.length + axis : axis;
  if (k < 0 || k >= dims.length || dims[k] !== channels) return `'${node.input[i]}' of ${label(node)} has dims [${dims.join(', ')}], expected ${channels} along axis ${axis}`;
  return constantAction(ctx, node, i, { axis: k, rank: dims.length, channels }, 'divide', false);
}

/** True when output `k` of node is absent or unread. */
function unusedOutput(ctx: FoldContext, node: NodeProto, k: number): boolean {
  const o = node.output[k];
  return !o || (!ctx.root.outputs.has(o) && usesOf(ctx.root, o).length === 0);
}

function traceProducer(ctx: FoldContext, t: string, spec: ChannelSpec, depth: number): FoldTrace {
  if (depth > MAX_DEPTH) return fail(`the producer chain is deeper than ${MAX_DEPTH} nodes`);
  const p = ctx.root.producers.get(t);
  if (!p) return fail(`'${t}' is a graph input`);
  if (p.domain !== '' && p.domain !== 'ai.onnx') return fail(`${label(p)} is of domain ${p.domain}`);
  const { axis, rank, channels } = spec;
  const pass = PASS_THROUGH[p.opType];
  if (pass) {
    if (pass === 'spatial' && (axis !== 1 || rank < 3)) return fail(`${label(p)} pools over the axes after axis 1, the channels are on axis ${axis} of ${rank}`);
    if (p.output.some((_, k) => k > 0 && !unusedOutput(ctx, p, k))) return fail(`${label(p)} has a second output in use`);
    const inner = through(ctx, p, 0, spec, depth);
    return inner.ok ? combine(p, [], [inner.path]) : inner;
  }
  switch (p.opType) {
    case 'MatMul':
      if (axis !== rank - 1) return fail(`${label(p)} computes channels on its last axis, the consumer reads axis ${axis} of ${rank}`);
      return terminal(p, [ownAxisAction(ctx, p, 1, -1, channels) ?? `${label(p)} has no B`]);
    case 'Gemm': {
      if (axis !== 1 || rank !== 2) return fail(`${label(p)} computes channels on axis 1 of 2, the consumer reads axis ${axis} of ${rank}`);
      const c = p.input[2] ? constantAction(ctx, p, 2, spec, 'divide', false) : undefined;
      return terminal(p, [ownAxisAction(ctx, p, 1, intAttribute(p, 'transB', 0) === 1 ? 0 : 1, channels) ?? `${label(p)} has no B`, c]);
    }
    case 'Conv':
      if (axis !== 1) return fail(`${label(p)} computes channels on axis 1, the consumer reads axis ${axis}`);
      return terminal(p, [ownAxisAction(ctx, p, 1, 0, channels) ?? `${label(p)} has no W`, ownAxisAction(ctx, p, 2, 0, channels)]);
    case 'BatchNormalization':
    case 'InstanceNormalization': {
      if (axis !== 1) return fail(`${label(p)} normalizes channels on axis 1, the consumer reads axis ${axis}`);
      if (intAttribute(p, 'training_mode', 0) !== 0 || intAttribute(p, 'spatial', 1) !== 1) return fail(`${label(p)} runs in training mode or per activation (spatial 0)`);
      if (p.output.some((_, k) => k > 0 && !unusedOutput(ctx, p, k))) return fail(`${label(p)} has running statistics outputs in use`);
      return terminal(p, [ownAxisAction(ctx, p, 1, 0, channels), ownAxisAction(ctx, p, 2, 0, channels)]);
    }
    case 'LayerNormalization': {
      const start = intAttribute(p, 'axis', -1)!;
      if (axis < (start < 0 ? start + rank : start)) return fail(`${label(p)} normalizes from axis ${start}, the channels are on axis ${axis}`);
      return terminal(p, [constantAction(ctx, p, 1, spec, 'divide', false), p.input[2] ? constantAction(ctx, p, 2, spec, 'divide', false) : undefined]);
    }
    case 'Mul':
    case 'Add':
    case 'Sub':
    case 'Div':
      return traceArithmetic(ctx, p, spec, depth);
    default:
      return fail(`${label(p)} does not commute with a per-channel scale (only Relu-like, pooling, affine and normalization ops do)`);
  }
}

function traceArithmetic(ctx: FoldContext, p: NodeProto, spec: ChannelSpec, depth: number): FoldTrace {
  const [a, b] = [p.input[0] ?? '', p.input[1] ?? ''];
  const constant = [resolveConstant(ctx.root, a, ctx.ir), resolveConstant(ctx.root, b, ctx.ir)].map((c) => c !== undefined);
  if (constant[0] && constant[1]) return fail(`both inputs of ${label(p)} are constants`);
  if (a === b) return fail(`${label(p)} reads '${a}' twice`);
  if (p.opType === 'Mul' || p.opType === 'Div') {
    // (a·c)/s = a·(c/s), (a/c)/s = a/(c·s), (c/b)/s = (c/s)/b: a constant factor absorbs the scale; else the numerator (or either factor) carries it.
    if (constant[1]) return terminal(p, [constantAction(ctx, p, 1, spec, p.opType === 'Div' ? 'multiply' : 'divide', true)]);
    if (constant[0]) return terminal(p, [constantAction(ctx, p, 0, spec, 'divide', true)]);
    const first = through(ctx, p, 0, spec, depth);
    if (first.ok || p.opType === 'Div') return first.ok ? combine(p, [], [first.path]) : first;
    const second = through(ctx, p, 1, spec, depth);
    return second.ok ? combine(p, [], [second.path]) : fail(`neither input of ${label(p)} can carry the scale: ${first.reason}; ${second.reason}`);
  }
  // (a ± b)/s = a/s ± b/s: every term carries the scale, a constant term rescaled, a run-time term traced.
  const actions: FoldAction[] = [];
  const inner: FoldPath[] = [];
  for (const i of [0, 1]) {
    if (constant[i]) {
      const c = constantAction(ctx, p, i, spec, 'divide', true);
      if (typeof c === 'string') return fail(c);
      actions.push(c);
    } else {
      const t = through(ctx, p, i, spec, depth);
      if (!t.ok) return t;
      inner.push(t.path);
    }
  }
  return combine(p, actions, inner);
}

/**
 * The run-time tensors a trace from x may need the dims of: x and, up through pass-through and
 * arithmetic ops, their run-time inputs (capture them on one batch, then trace with them).
 */
export function foldShapeNeeds(ctx: Omit<FoldContext, 'shapes'>, x: string): string[] {
  const out = new Set<string>([x]);
  const visit = (t: string, depth: number): void => {
    const p = ctx.root.producers.get(t);
    if (!p || depth > MAX_DEPTH || !(PASS_THROUGH[p.opType] || ['Mul', 'Add', 'Sub', 'Div'].includes(p.opType))) return;
    for (const i of PASS_THROUGH[p.opType] ? p.input.slice(0, 1) : p.input.slice(0, 2)) {
      if (!i || out.has(i) || ctx.root.inputs.has(i) || resolveConstant(ctx.root, i, ctx.ir)) continue;
      out.add(i);
      visit(i, depth + 1);
    }
  };
  visit(x, 0);
  return [...out];
}

/**
 * Whether x's channels can be divided by per-channel scales s > 0 exactly by rescaling constants
 * of the ops producing x, and how. x must feed only `consumers` (at their input 0) and ops that
 * read its shape, and not be a graph output; each tensor further up must feed only the next node
 * of the chain. x's producer may be a MatMul or Gemm with a constant weight (its output columns
 * and bias), a Conv (output channels of W and B), a Batch-, Instance- or LayerNormalization (scale
 * and bias), a Mul, Div, Add or Sub whose constant operand is per channel or broadcast (a scalar
 * is spread out to one value per channel) — for Add and Sub every term carries the scale — or a
 * Relu-like op or a pool, through which the scale passes to their input. `spec` says where x's
 * channels are; ctx.shapes gives the dims of run-time operands met on the way (an operand
 * broadcast along the channels cannot carry them). Example: LayerNormalization → x → MatMul folds
 * into the LayerNormalization's scale and bias.
 */
export function traceAwqFold(ctx: FoldContext, x: string, spec: ChannelSpec, consumers: readonly NodeProto[]): FoldTrace {
  const why = otherReaders(ctx, x, (n, i) => i === 0 && consumers.includes(n));
  if (why) return fail(why);
  return traceProducer(ctx, x, spec, 0);
}

/**
 * Divides x's channels by s along a traced path: constants read by one node alone are rewritten
 * in place (the model's initializer or Constant node, and the tensor weight-only mode holds for it
 * through `written`); a constant that must change shape or is shared gets a new initializer and
 * the node is pointed at it. Returns those edits (to apply with the rest) and the names rewritten
 * in place with their new values.
 */
export function applyAwqFold(ctx: FoldContext, path: FoldPath, s: Float32Array, names: NameGenerator): { edits: GraphEdit[]; written: Map<string, Float32Array> } {
  const edits: GraphEdit[] = [];
  const written = new Map<string, Float32Array>();
  for (const a of path.actions) {
    const name = a.node.input[a.input]!;
    const cDims = tensorDims(a.source.tensor);
    const values = scaleChannels(readFloat32(a.source.tensor), cDims, a.dims, a.axis, s, a.op);
    const sameDims = a.dims.length === cDims.length && a.dims.every((d, k) => d === cDims[k]);
    const constantValue = a.source.kind === 'constant-node' ? findAttribute(a.source.node!, 'value')?.t : a.source.tensor;
    if (sameDims && constantValue && a.source.scope === ctx.root && soleUse(ctx, name, a.node, a.input)) {
      writeFloatValues(constantValue, values);
      written.set(name, values);
      continue;
    }
    const fresh = names.next(`${name}_awq`);
    const t = onnxDtypeOf(a.source.tensor.dataType) === 'float16' ? makeTensor(fresh, 'float16', a.dims, float32ToFloat16Bits(values)) : makeTensor(fresh, 'float32', a.dims, values);
    edits.push({ kind: 'add-initializer', graph: ctx.root.graph, tensor: t }, { kind: 'set-input', node: a.node, index: a.input, name: fresh });
    // A constant of this node alone that had to change shape is replaced, not kept beside its copy.
    if (a.source.scope === ctx.root && soleUse(ctx, name, a.node, a.input)) {
      edits.push(a.source.kind === 'initializer' ? { kind: 'remove-initializer', graph: ctx.root.graph, name } : { kind: 'remove-node', graph: ctx.root.graph, node: a.source.node! });
    }
  }
  return { edits, written };
}
