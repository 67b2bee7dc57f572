import { clone } from '@bufbuild/protobuf';
import type { ModelProto, NodeProto, TensorProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { awqScales } from '../../../core/lowbit/awq-scales.js';
import type { LowBitOptions } from '../../../core/lowbit/lowbit-scheme.js';
import { makeValueInfo } from '../../../formats/onnx/builders.js';
import { encodeModel } from '../../../formats/onnx/model.js';
import { readFloat32, tensorDims } from '../../../formats/onnx/tensor.js';
import type { GraphIndex, NameGenerator } from '../../graph/graph.js';
import { usesOf } from '../../graph/graph.js';
import type { GraphEdit } from '../../graph/graph-edit.js';
import { writeFloatValues } from '../../graph/scale-channels.js';
import type { InputScalePlacement } from '../../quantize-report.js';
import { nodeName } from '../../quantize-report.js';
import type { RunModel, TensorMap } from '../../run-model.js';
import { applyAwqFold, foldShapeNeeds, traceAwqFold } from './awq-fold.js';
import type { FoldContext } from './awq-fold.js';
import { toRows } from './blocked-weight.js';
import type { LayerStats } from './layer-stats.js';
import { meanAbs } from './layer-stats.js';
import type { LayerInput } from './weight-calibration.js';

/** One AWQ layer of the main graph: its input, its weight (the tensor weight-only mode will quantize) and its calibration statistics. */
export interface AwqLayer {
  readonly node: NodeProto;
  readonly input: LayerInput;
  readonly weight: string;
  /** The weight's tensor as weight-only mode holds it: read for the search, rewritten when a later layer's scales fold into it. */
  readonly tensor: TensorProto;
  /** The weight axis of the input channels (blocks run along it). */
  readonly blockAxis: number;
  readonly lowbit: LowBitOptions;
  readonly stats: readonly LayerStats[] | undefined;
  /** False for a weight quantized per output channel (few input channels per group): its codes are chosen by search, so it searches no scales of its own. Default true. */
  readonly searchable?: boolean;
}

/** Layers that search scales of their own; the others (one input channel per group, or per-channel weights) keep s = 1 alone and take a group's shared s beside searched layers. */
const searches = (l: AwqLayer): boolean => l.input.cols > 1 && l.searchable !== false;
const unsearchedReason = (l: AwqLayer): string => (l.input.cols > 1 ? 'quantized per output channel (few input channels per group): its codes are chosen by search and its own scales are all 1' : 'one input channel per group: its own scales are all 1');

/** Where each layer's 1/s goes, the scales to quantize with, and the graph edits of the folds. */
export interface AwqScalePlan {
  /** Scales searched here (shared by the layers of one activation); layers not listed search their own when quantized. */
  readonly scales: ReadonlyMap<NodeProto, Float32Array>;
  readonly placements: ReadonlyMap<NodeProto, InputScalePlacement>;
  readonly edits: readonly GraphEdit[];
  /** Constants rewritten in place, with their new values (weight-only mode updates the tensors it planned from them). */
  readonly written: ReadonlyMap<string, Float32Array>;
}

export interface AwqPlacementOptions {
  readonly model: ModelProto;
  readonly root: GraphIndex;
  readonly ir: number;
  readonly names: NameGenerator;
  readonly floatType: 'float32' | 'float16';
  readonly runModel: RunModel;
  readonly data: () => AsyncIterable<TensorMap> | Iterable<TensorMap>;
}

/**
 * AWQ's scale placement. Layers reading one activation x form a group; when x's producers can
 * absorb a per-channel scale exactly (traceAwqFold) the group shares ONE s, searched as llm-awq
 * searches grouped layers (Q/K/V): the weights are stacked along their output rows, so the
 * candidate error is summed over every layer of the group, and 1/s is folded into the producers'
 * constants (float, before any of them is quantized: groups are handled from the last in graph
 * order; a producer that is itself a layer is searched on its weight before the fold). Otherwise
 * each layer keeps its own s and weight-only mode writes a Mul by 1/s in front of it; a depthwise
 * Conv (one input channel per group) has s = 1 alone and needs neither, or takes the shared s of
 * the layers it reads x with. The dims of the
 * run-time tensors on the producers' side come from one run on the first calibration batch.
 */
export async function placeAwqScales(layers: readonly AwqLayer[], o: AwqPlacementOptions): Promise<AwqScalePlan> {
  const scales = new Map<NodeProto, Float32Array>();
  const placements = new Map<NodeProto, InputScalePlacement>();
  const edits: GraphEdit[] = [];
  const written = new Map<string, Float32Array>();
  const order = new Map(o.root.graph.node.map((n, i) => [n, i]));
  const byInput = new Map<string, AwqLayer[]>();
  for (const l of layers) {
    if (!l.stats || l.stats.length !== l.input.groups || l.stats.some((s) => s.rows === 0)) continue;
    const list = byInput.get(l.input.tensor);
    if (list) list.push(l);
    else byInput.set(l.input.tensor, [l]);
  }
  const foldable: AwqLayer[][] = [];
  // Weights as they were before a fold rewrote them: every search runs on these (see searchSharedScales).
  const originals = new Map<string, Float32Array>();
  for (const group of byInput.values()) {
    // A depthwise Conv searches nothing (s = 1 per one-channel group); beside searched layers it takes their s, its weights multiplied by it (each code is its own block: exact).
    const searched = group.filter(searches);
    if (!searched.length) {
      for (const l of group) placements.set(l.node, { applied: 'none', reason: unsearchedReason(l) });
      continue;
    }
    const why = groupRefusal(o, group, searched);
    if (!why) {
      foldable.push(group);
      continue;
    }
    for (const l of group) placements.set(l.node, searches(l) ? { applied: 'Mul', reason: why } : { applied: 'none', reason: unsearchedReason(l) });
  }
  if (!foldable.length) return { scales, placements, edits, written };
  const base = { root: o.root, ir: o.ir };
  const { shapes, error } = await captureShapes(o, [...new Set(foldable.flatMap((g) => foldShapeNeeds(base, g[0]!.input.tensor)))]);
  const ctx: FoldContext = { ...base, shapes };
  foldable.sort((a, b) => firstIndex(b, order) - firstIndex(a, order));
  for (const group of foldable) {
    const searched = group.filter(searches);
    const { tensor: x, channelAxis, cols, groups } = searched[0]!.input;
    const refuse = (reason: string): void => {
      for (const l of group) placements.set(l.node, searches(l) ? { applied: 'Mul', reason } : { applied: 'none', reason: unsearchedReason(l) });
    };
    const dims = shapes.get(x);
    if (!dims) {
      refuse(`the run reading the dims of '${x}' and its producers' operands gave none${error ? ` (${error})` : ''}`);
      continue;
    }
    const spec = { axis: channelAxis < 0 ? channelAxis + dims.length : channelAxis, rank: dims.length, channels: cols * groups };
    const trace = traceAwqFold(ctx, x, spec, group.map((l) => l.node));
    if (!trace.ok) {
      refuse(trace.reason);
      continue;
    }
    const s = searchSharedScales(searched, originals);
    for (const l of group) scales.set(l.node, s);
    const shared = (l: AwqLayer) => group.filter((m) => m !== l).map((m) => nodeName(m.node));
    if (s.every((v) => v === 1)) {
      for (const l of group) placements.set(l.node, { applied: 'none', reason: 'every searched scale is 1 (α = 0)', ...(group.length > 1 && { sharedWith: shared(l) }) });
      continue;
    }
    const folded = applyAwqFold(ctx, trace.path, s, o.names);
    edits.push(...folded.edits);
    for (const [name, values] of folded.written) written.set(name, values);
    // A layer further up whose weight was just rewritten is searched and quantized on the new values (weight-only holds its own copy of a Constant node's tensor).
    for (const l of layers) {
      const v = folded.written.get(l.weight);
      if (!v) continue;
      if (!originals.has(l.weight)) originals.set(l.weight, readFloat32(l.tensor));
      writeFloatValues(l.tensor, v);
    }
    const into = [...new Set(trace.path.actions.map((a) => nodeName(a.node)))];
    const passed = trace.path.nodes.filter((n) => !trace.path.actions.some((a) => a.node === n)).map((n) => `${nodeName(n)} (${n.opType})`);
    for (const l of group) {
      placements.set(l.node, {
        applied: 'folded',
        into,
        ...(group.length > 1 && { sharedWith: shared(l) }),
        reason: `'${x}' feeds only ${group.length > 1 ? `these ${group.length} layers (one scale searched over all of them)` : 'this layer'} and its producers scale exactly${passed.length ? ` (through ${passed.join(', ')})` : ''}`,
      });
    }
  }
  // A layer with a Mul whose weight absorbed a later layer's 1/s: its own search too runs on the weight before the fold.
  for (const l of layers) if (originals.has(l.weight) && !scales.has(l.node) && searches(l) && byInput.get(l.input.tensor)?.includes(l)) scales.set(l.node, searchSharedScales([l], originals));
  return { scales, placements, edits, written };
}

function firstIndex(group: readonly AwqLayer[], order: ReadonlyMap<NodeProto, number>): number {
  return Math.min(...group.map((l) => order.get(l.node) ?? Infinity));
}

/** Why the layers reading one activation (`searched`: those with more than one input channel per group) cannot share one folded scale, or undefined. */
function groupRefusal(o: AwqPlacementOptions, group: readonly AwqLayer[], searched: readonly AwqLayer[]): string | undefined {
  for (const l of group) {
    const readers = usesOf(o.root, l.weight).filter((u) => u.node !== l.node);
    if (readers.length || o.root.outputs.has(l.weight)) return `weight '${l.weight}' of ${nodeName(l.node)} is read by other nodes too: its scales cannot be chosen for this input alone`;
  }
  if (searched.length > 1) {
    const [first] = searched;
    if (searched.some((l) => l.input.groups !== 1)) return `'${first!.input.tensor}' feeds ${searched.length} layers, some of them grouped convolutions: no shared scale is searched for them`;
    const same = (a: LowBitOptions, b: LowBitOptions) => a.bits === b.bits && a.blockSize === b.blockSize && a.symmetric === b.symmetric && a.signed === b.signed;
    if (searched.some((l) => !same(l.lowbit, first!.lowbit) || l.input.cols !== first!.input.cols)) return `'${first!.input.tensor}' feeds ${searched.length} layers quantized with different block schemes`;
  }
  return undefined;
}

/**
 * One s for the layers of a group (they read the same x, so their statistics are the same): AWQ's
 * search on their weights stacked as [Σ rows, cols], whose error is the sum of each layer's. A
 * single grouped Conv gets one search per group of channels, as weight-methods does. A weight
 * whose output rows a later layer's fold divided by s' is searched as it was before (`originals`):
 * row r's output error is multiplied back by s'_r downstream, so the search must weigh it so; the
 * rows' block grids scale with the rows, so quantizing the folded weight with the s found gives the
 * original's codes.
 */
function searchSharedScales(group: readonly AwqLayer[], originals: ReadonlyMap<string, Float32Array>): Float32Array {
  const { cols, groups } = group[0]!.input;
  const stats = group[0]!.stats!;
  const search = (w: Float32Array, rows: number, s: LayerStats): Float32Array =>
    awqScales(w, [rows, cols], meanAbs(s), { ...group[0]!.lowbit, ...(s.sample && s.sample.length && { inputs: s.sample }) }).scales;
  const mats = group.map((l) => toRows(originals.get(l.weight) ?? readFloat32(l.tensor), tensorDims(l.tensor), l.blockAxis));
  if (groups > 1) {
    const { rows, matrix } = mats[0]!;
    const out = new Float32Array(cols * groups);
    const groupRows = rows / groups;
    for (let g = 0; g < groups; g++) out.set(search(matrix.subarray(g * groupRows * cols, (g + 1) * groupRows * cols), groupRows, stats[g]!), g * cols);
    return out;
  }
  const rows = mats.reduce((a, m) => a + m.rows, 0);
  const stacked = new Float32Array(rows * cols);
  let at = 0;
  for (const m of mats) {
    stacked.set(m.matrix, at);
    at += m.matrix.length;
  }
  return search(stacked, rows, stats[0]!);
}

/** The dims of `names` on the first calibration batch (the model with them as extra outputs). */
async function captureShapes(o: AwqPlacementOptions, names: readonly string[]): Promise<{ shapes: Map<string, readonly number[]>; error?: string }> {
  const m = clone(ModelProtoSchema, o.model);
  const outputs = new Set(m.graph!.output.map((v) => v.name));
  for (const n of names) if (!outputs.has(n)) m.graph!.output.push(makeValueInfo(n, o.floatType));
  const shapes = new Map<string, readonly number[]>();
  async function* first(): AsyncIterable<TensorMap> {
    for await (const b of o.data()) {
      yield b;
      return;
    }
  }
  try {
    await o.runModel(encodeModel(m), first(), (out) => {
      for (const n of names) if (out[n]) shapes.set(n, out[n].dims.map(Number));
    }, names);
  } catch (e) {
    // The model already ran on this batch during calibration: a failure here concerns the extra outputs alone; every group keeps its Mul and says why.
    return { shapes, error: e instanceof Error ? e.message : String(e) };
  }
  return { shapes };
}
