import { clone } from '@bufbuild/protobuf';
import type { GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { isQuantError, QuantError } from '../../../core/errors.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../../core/float16.js';
import { intAttribute, stringAttribute, subgraphsOf } from '../../../formats/onnx/attributes.js';
import { makeValueInfo } from '../../../formats/onnx/builders.js';
import { encodeModel } from '../../../formats/onnx/model.js';
import { onnxDtypeOf } from '../../../formats/onnx/onnx-dtypes.js';
import type { TensorData } from '../../../formats/onnx/tensor.js';
import type { GraphIndex } from '../../graph/graph.js';
import { resolveConstant } from '../../graph/graph.js';
import type { ProgressEvent, RunModel, TensorMap } from '../../run-model.js';
import { pairNodes, inlineIfs } from '../../graph/inline-if.js';
import type { InlinedModel } from '../../graph/inline-if.js';
import { nodeReads } from '../../graph/prune-to-ancestors.js';
import { prefixNames } from '../../graph/prefix-names.js';
import type { BranchChoice } from '../../calibration/branch-plan.js';
import { pickBatches, planBranches } from '../../calibration/branch-plan.js';
import { previousHiddenStates } from '../../calibration/previous-hidden-states.js';
import { nodeName } from '../../quantize-report.js';
import type { BlockedWeight } from './blocked-weight.js';
import { dequantizeBlocked } from './blocked-weight.js';
import type { LayerStats } from './layer-stats.js';
import { addRows, channelRows, createLayerStats } from './layer-stats.js';
import type { ConvGeometry } from './conv-patch-hessian.js';
import { addConvPatches, convGeometry, needsPatchHessian, patchRowsBound } from './conv-patch-hessian.js';
import type { WeightScheme } from './weight-scheme.js';
import { PassFrontier } from './pass-frontier.js';

/** Where a layer's input channels are: the activation feeding its weight, and how its channels map to the weight's cols. */
export interface LayerInput {
  /** The activation tensor, a value of the node's own graph (R of a recurrent op: its Y output, see `recurrent`). */
  readonly tensor: string;
  /** Its channel axis; negative counts from the end (MatMul: −1). */
  readonly channelAxis: number;
  /** Input channels per group (the weight's cols). */
  readonly cols: number;
  /** Conv groups: group g reads channels [g·cols, (g+1)·cols) and owns the g-th slice of the weight's rows (R: one group per direction). */
  readonly groups: number;
  /** The node input index of the weight these statistics describe (LSTM: W 1, R 2). */
  readonly weightInput: number;
  /**
   * R of an LSTM, GRU or RNN: its input is the hidden state h_{t−1}, no graph value; it is read as
   * the op's Y output shifted by one step, initial_h first (previousHiddenStates), per direction.
   */
  readonly recurrent?: { readonly layout: 0 | 1; readonly direction: string };
}

/** One layer to calibrate: its input, and the weights fed by it (quantized once its statistics are complete). */
export interface WeightLayer extends LayerInput {
  /** The node, of the main graph or of any subgraph of the model given to calibrateWeightLayers. */
  readonly node: NodeProto;
  readonly weights: readonly { readonly name: string; readonly tensor: TensorProto; readonly scheme: Exclude<WeightScheme, { form: 'float' }>; readonly use: unknown }[];
}

/**
 * The activation whose channels a node's weight input `weightInput` reduces over, or undefined when
 * no run-time tensor carries them (a Gather reads indices; an input that is itself a constant; R of
 * a recurrent op given sequence_lens, whose padded steps would count as states). `dims` are the
 * weights' dims; `scope` the index of the node's own graph.
 */
export function layerInputOf(node: NodeProto, weightInput: number, dims: readonly (readonly number[])[], irVersion: number, scope: GraphIndex): LayerInput | undefined {
  const x = node.input[0];
  if (!x || resolveConstant(scope, x, irVersion)) return undefined;
  const w = dims[0]!;
  switch (node.opType) {
    case 'MatMul':
      return weightInput === 1 && w.length >= 2 ? { tensor: x, channelAxis: -1, cols: w[w.length - 2]!, groups: 1, weightInput } : undefined;
    case 'Gemm': {
      if (weightInput !== 1 || w.length !== 2) return undefined;
      const cols = intAttribute(node, 'transB', 0) === 1 ? w[1]! : w[0]!;
      return { tensor: x, channelAxis: intAttribute(node, 'transA', 0) === 1 ? 0 : 1, cols, groups: 1, weightInput };
    }
    case 'Conv': {
      if (weightInput !== 1 || w.length < 3) return undefined;
      return { tensor: x, channelAxis: 1, cols: w[1]!, groups: intAttribute(node, 'group', 1), weightInput };
    }
    case 'ConvTranspose':
      // Grouped transposed convolutions block input channels of every group together: no per-group statistics.
      return weightInput === 1 && w.length >= 3 && intAttribute(node, 'group', 1) === 1 ? { tensor: x, channelAxis: 1, cols: w[0]!, groups: 1, weightInput } : undefined;
    case 'LSTM':
    case 'GRU':
    case 'RNN': {
      if (w.length !== 3) return undefined;
      if (weightInput === 1) return { tensor: x, channelAxis: -1, cols: w[2]!, groups: 1, weightInput };
      if (weightInput !== 2 || node.input[4]) return undefined;
      const layout = intAttribute(node, 'layout', 0) === 1 ? 1 : 0;
      return { tensor: node.output[0] ?? '', channelAxis: -1, cols: w[2]!, groups: w[0]!, weightInput, recurrent: { layout, direction: stringAttribute(node, 'direction') ?? 'forward' } };
    }
    default:
      return undefined;
  }
}

export interface WeightCalibrationOptions {
  readonly runModel: RunModel;
  readonly data: () => AsyncIterable<TensorMap> | Iterable<TensorMap>;
  /** Accumulate the Hessian (GPTQ). */
  readonly hessian: boolean;
  /** Keep sample input rows (AWQ). */
  readonly sample: boolean;
  /**
   * GPTQ: each pass runs the model with the weights of the layers already quantized replaced by
   * their dequantized values, so later layers are fitted to the inputs they will really see.
   */
  readonly sequential: boolean;
  /**
   * GPTQ fitted to the float model (sequential only): each pass runs the float model beside the
   * partly quantized one on the same batches, and each layer's statistics keep the drift of its
   * input from the float model's (LayerStats.drift), over the same rows as its Hessian.
   */
  readonly floatTargets?: boolean;
  readonly onProgress?: (event: ProgressEvent) => void;
  /** Called once per layer when its statistics are complete; returns what it quantized (to update the running model in sequential mode). */
  readonly quantizeLayer: (layer: WeightLayer, stats: readonly LayerStats[]) => readonly { name: string; weight: BlockedWeight; scheme: WeightLayer['weights'][number]['scheme'] }[];
  /**
   * Called once per pass when its layers' statistics are complete, before quantizeLayer is called
   * on each: the layers of one pass are independent, so this may quantize them at the same time
   * (in worker threads) for quantizeLayer to pick up.
   */
  readonly prepareLayers?: (layers: readonly { readonly layer: WeightLayer; readonly stats: readonly LayerStats[] }[]) => Promise<void>;
  /** Bytes of statistics one pass may hold (Hessians dominate: cols² float64 each). Default 256 MiB. */
  readonly budgetBytes?: number;
  /** Layers captured per pass at most (their activations of one batch are in memory together). Default 4 sequential, 16 otherwise. */
  readonly layersPerPass?: number;
  /**
   * Bytes of activations (all batches) a pass may hand on to the next, so the next pass runs only
   * the nodes after them instead of the model from its inputs: the statistics are the same either
   * way. Default 1 GiB; 0 starts every pass from the model's inputs (each pass still runs only
   * the nodes its captured values depend on).
   */
  readonly reuseBytes?: number;
}

/** Layers grouped into passes within the budget, in graph order. */
function passes(layers: readonly WeightLayer[], o: WeightCalibrationOptions): WeightLayer[][] {
  const budget = o.budgetBytes ?? 256 * 2 ** 20;
  const most = o.layersPerPass ?? (o.sequential ? 4 : 16);
  // Fitted to the float model, a pass holds only layers reading one input (Q, K and V): a layer fed by another of its pass would see a drift that pass's fit has not corrected yet, and correct it again.
  const oneInput = o.floatTargets === true && o.sequential;
  const out: WeightLayer[][] = [];
  let cur: WeightLayer[] = [];
  let bytes = 0;
  for (const l of layers) {
    const patchCols = o.hessian && patchGeometry(l) ? l.cols * (l.weights[0]!.tensor.dims.slice(2).reduce((a, d) => a * Number(d), 1)) : 0;
    const need = l.groups * (l.cols * 16 + (o.hessian ? (l.cols * l.cols + patchCols * patchCols) * 8 * 2 : 0));
    const apart = oneInput && !cur.every((c) => !c.recurrent && !l.recurrent && c.tensor === l.tensor);
    if (cur.length && (cur.length >= most || bytes + need > budget || apart)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(l);
    bytes += need;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** The kernel geometry of a Conv layer whose GPTQ needs the patch Hessian (needsPatchHessian), else undefined. */
function patchGeometry(l: WeightLayer): ConvGeometry | undefined {
  const w = l.weights[0];
  if (!w || l.recurrent || !l.weights.every((x) => needsPatchHessian(l.node, x.scheme, x.tensor.dims.map(Number)))) return undefined;
  return convGeometry(l.node, w.tensor.dims.map(Number));
}

/** Replaces a constant's values in place (initializer or Constant node of `graph`), keeping its type. */
function setConstant(graph: GraphProto, name: string, values: Float32Array): void {
  let t = graph.initializer.find((i) => i.name === name);
  if (!t) {
    const n = graph.node.find((c) => c.opType === 'Constant' && c.output[0] === name);
    t = n?.attribute.find((a) => a.name === 'value')?.t;
  }
  if (!t) throw new Error(`weight '${name}' vanished from the running model`);
  const f16 = onnxDtypeOf(t.dataType) === 'float16';
  const bytes = f16 ? float32ToFloat16Bits(values) : values;
  t.rawData = new Uint8Array(bytes.byteLength);
  t.rawData.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  t.floatData = [];
  t.int32Data = [];
}

/** Where each node sits: its graph, and the node (If, Loop, Scan) and attribute carrying that graph. */
interface Placement {
  readonly graph: GraphProto;
  readonly owner?: { readonly node: NodeProto; readonly attribute: string };
}

function placeNodes(g: GraphProto, owner: Placement['owner'], out: Map<NodeProto, Placement>, order: Map<NodeProto, number>): void {
  for (const n of g.node) {
    for (const a of n.attribute) for (const sub of a.g ? [a.g, ...a.graphs] : a.graphs) placeNodes(sub, { node: n, attribute: a.name }, out, order);
    out.set(n, { graph: g, ...(owner && { owner }) });
    // A subgraph's nodes run while their owner runs: they come before the owner in calibration order, after what precedes it.
    order.set(n, order.size);
  }
}

/** Pairs every graph of `a` with the graph at the same place in `b` (a clone of `a`). */
function pairGraphs(a: GraphProto, b: GraphProto, out = new Map<GraphProto, GraphProto>()): Map<GraphProto, GraphProto> {
  out.set(a, b);
  a.node.forEach((n, i) => {
    const sa = subgraphsOf(n);
    const sb = subgraphsOf(b.node[i]!);
    sa.forEach((g, k) => pairGraphs(g, sb[k]!, out));
  });
  return out;
}

/** The graph defining constant `name` as seen from `node`: its own graph or an enclosing one. */
function scopeOfConstant(node: NodeProto, name: string, placed: ReadonlyMap<NodeProto, Placement>): GraphProto | undefined {
  for (let p = placed.get(node); p; p = p.owner && placed.get(p.owner.node)) {
    if (p.graph.initializer.some((t) => t.name === name) || p.graph.node.some((n) => n.opType === 'Constant' && n.output[0] === name)) return p.graph;
  }
  return undefined;
}

const label = (n: NodeProto): string => `${n.opType} '${nodeName(n)}'`;

/** The If/Loop/Scan nodes enclosing `node`, outermost first. */
function enclosing(node: NodeProto, placed: ReadonlyMap<NodeProto, Placement>): { readonly node: NodeProto; readonly attribute: string }[] {
  const out: { node: NodeProto; attribute: string }[] = [];
  for (let o = placed.get(node)?.owner; o; o = placed.get(o.node)?.owner) out.unshift(o);
  return out;
}

/** Per layer: how many calibration batches its statistics come from, and from where. */
export interface LayerCalibrationSource {
  readonly batches: number;
  /** Where the statistics came from, or why there are none (a Loop body, a branch no batch takes). */
  readonly source: string;
}

/**
 * Accumulates the statistics of every layer's input on the calibration batches, a few layers per
 * pass (the model gets those layers' inputs as extra outputs; each batch's activations are folded
 * into the statistics and dropped), and hands each layer to quantizeLayer as soon as its
 * statistics are complete. Memory: one batch of the pass's activations plus the statistics, plus
 * up to `reuseBytes` of values handed from one pass to the next.
 *
 * Each pass runs the model cut down to the nodes its captured values depend on (onnxruntime runs
 * every node of a session whatever a run fetches), starting from values an earlier pass handed on
 * where they can no longer change (PassFrontier): the statistics are those of the whole model run
 * from its inputs, bit for bit.
 *
 * Layers inside If branches: the branches each batch takes are found first (planBranches), and
 * every pass runs, per group of batches taking the same branches, a copy of the model with those
 * Ifs inlined (inlineIfs), where the branch's values are main-graph values that can be outputs;
 * the weights stay where they are in the model. A layer in a branch no batch takes, or in a Loop or
 * Scan body (whose values change per iteration), gets no statistics, and `sources` says so.
 */
export async function calibrateWeightLayers(
  model: ModelProto,
  layers: readonly WeightLayer[],
  o: WeightCalibrationOptions,
): Promise<{ summary: { batches: number; layers: number; passes: number; sequential: boolean; floatTargets: boolean }; sources: ReadonlyMap<WeightLayer, LayerCalibrationSource> }> {
  const placed = new Map<NodeProto, Placement>();
  const order = new Map<NodeProto, number>();
  placeNodes(model.graph!, undefined, placed, order);
  const sorted = [...layers].sort((a, b) => (order.get(a.node) ?? 0) - (order.get(b.node) ?? 0));
  const running = clone(ModelProtoSchema, model);
  const runningNode = pairNodes(model.graph!, running.graph!);
  const sourceNode = new Map([...runningNode].map(([s, r]) => [r, s]));
  const runningGraph = pairGraphs(model.graph!, running.graph!);

  const sources = new Map<WeightLayer, LayerCalibrationSource>();
  let plans: BranchChoice[] = [{ batches: undefined, choices: new Map() }];
  let planFailure: string | undefined;
  const capturable = sorted.filter((l) => {
    const loop = enclosing(l.node, placed).find((e) => e.node.opType !== 'If');
    if (loop) sources.set(l, { batches: 0, source: `calibration-free: inside the ${loop.attribute} of ${label(loop.node)}, whose values change per iteration and cannot be graph outputs` });
    return !loop;
  });
  if (capturable.some((l) => enclosing(l.node, placed).length)) {
    try {
      plans = await planBranches(model, o.runModel, o.data);
    } catch (e) {
      if (!isQuantError(e) || e.code === 'EMPTY_INPUT') throw e;
      planFailure = e.message;
    }
  }
  const captured = new Map<WeightLayer, number>();
  const groups = passes(sorted, o);
  const passOf = new Map(groups.flatMap((g, i) => g.map((l) => [l, i] as const)));
  // Named once in the running model, so every pass (and every plan's inlined copy) fetches the same name.
  let unnamed = 0;
  for (const l of capturable) {
    const r = runningNode.get(l.node)!;
    if (l.recurrent && !r.output[0]) r.output[0] = `${nodeName(r)}_calibration_Y${unnamed++ ? `_${unnamed}` : ''}`;
  }
  // Values handed from one pass to the next, per plan (its inlined graph names them), per batch.
  const reuseBudget = o.reuseBytes ?? 2 ** 30;
  const kept = plans.map(() => new Map<string, TensorData[]>());
  let keptBytes = 0;
  const trivial = plans.length === 1 && plans[0]!.choices.size === 0;
  const floatTargets = o.floatTargets === true && o.sequential && o.hessian;
  // The float model per plan, its values renamed (FLOAT_PREFIX) except the inputs it shares with the running model: built once, it never changes.
  const floatGraphs: (GraphProto | undefined)[] = plans.map(() => undefined);
  const floatGraphOf = (planIndex: number): GraphProto => {
    let g = floatGraphs[planIndex];
    if (!g) {
      const plan = plans[planIndex]!;
      const source = trivial ? model : inlineIfs(model, (n) => plan.choices.get(n)).model;
      g = prefixNames(source.graph!, FLOAT_PREFIX, sharedInputs(source.graph!));
      floatGraphs[planIndex] = g;
    }
    return g;
  };
  let batches = 0;
  let done = 0;
  for (const [pass, group] of groups.entries()) {
    // Only GPTQ on per-output-channel Conv weights reads the patch Hessian: its im2col sweep costs cols²·taps² per output position.
    const geometry = new Map(group.flatMap((l) => (o.hessian && patchGeometry(l) ? [[l, patchGeometry(l)!] as const] : [])));
    const stats = new Map<WeightLayer, LayerStats[]>(
      group.map((l) => {
        const g = geometry.get(l);
        const patchCols = g && l.cols * g.kernel.reduce((a, d) => a * d, 1);
        return [l, Array.from({ length: l.groups }, () => createLayerStats(l.cols, o.hessian, o.sample, patchCols, floatTargets))];
      }),
    );
    let seen = 0;
    let ran = false;
    for (const [planIndex, plan] of plans.entries()) {
      // Without an If to inline the running model itself is pruned: no copy of its weights per pass.
      const inlined = trivial ? { model: running, nodes: new Map([...runningNode.values()].map((n) => [n, n])), mainNodes: new Set(running.graph!.node) } : inlineIfs(running, (n) => plan.choices.get(sourceNode.get(n)!));
      const m = inlined.model;
      // With float targets the float model runs in the same session, beside the running one: one run gives both values of every captured row.
      const floatGraph = floatTargets ? floatGraphOf(planIndex) : undefined;
      const shared = floatGraph && sharedInputs(m.graph!);
      const floatName = (t: string): string => (shared!.has(t) ? t : FLOAT_PREFIX + t);
      const graph = floatGraph ? { ...m.graph!, node: [...m.graph!.node, ...floatGraph.node], initializer: [...m.graph!.initializer, ...floatGraph.initializer], sparseInitializer: [...m.graph!.sparseInitializer, ...floatGraph.sparseInitializer], valueInfo: [...m.graph!.valueInfo, ...floatGraph.valueInfo] } : m.graph!;
      const originalOutputs = new Map(m.graph!.output.map((v) => [v.name, v]));
      const fetchOf = (l: WeightLayer): Fetch | undefined => {
        if (!capturable.includes(l)) return undefined;
        const copy = inlined.nodes.get(runningNode.get(l.node)!);
        if (!copy || !inlined.mainNodes.has(copy)) return undefined;
        const x = l.recurrent ? copy.output[0]! : copy.input[0]!;
        const h = l.recurrent ? copy.input[5] || undefined : undefined;
        return { x, ...(h && { h }), ...(floatGraph && { floatX: floatName(x), ...(h && { floatH: floatName(h) }) }) };
      };
      const fetch = new Map<WeightLayer, Fetch>();
      const outputs = new Map<string, ValueInfoProto>();
      for (const l of group) {
        const f = fetchOf(l);
        if (!f) continue;
        fetch.set(l, f);
        const type = onnxDtypeOf(l.weights[0]!.tensor.dataType) === 'float16' ? 'float16' : 'float32';
        for (const t of [f.x, f.h, f.floatX, f.floatH]) if (t && !outputs.has(t)) outputs.set(t, originalOutputs.get(t) ?? makeValueInfo(t, type));
      }
      if (!fetch.size) continue;
      ran = true;
      // What later passes capture, so this run hands on the values they will start from.
      const later = groups.slice(pass + 1).map((g) => g.flatMap((l) => Object.values(fetchOf(l) ?? {}) as string[]));
      const keep = kept[planIndex]!;
      const run = new PassFrontier(graph, o.sequential ? weightPasses(sorted, passOf, inlined, runningNode, placed) : new Map()).plan(pass, [...outputs.values()], later, keep);
      for (const s of run.stale) {
        keptBytes -= tensorBytes(keep.get(s)!);
        keep.delete(s);
      }
      const handOn = new Map(run.handOn.map((h) => [h, [] as TensorData[]]));
      let handOnBytes = 0;
      const names = [...new Set([...outputs.keys(), ...handOn.keys()])];
      await o.runModel(
        encodeModel({ ...m, graph: run.graph }),
        withKept(pickBatches(o.data, plan.batches), run.fed, keep),
        (out, batch) => {
          if (handOn.size) {
            for (const [h, list] of handOn) {
              const t = out[h];
              if (!t) throw new QuantError('INVALID_ARGUMENT', `the runtime returned no value for tensor '${h}' in batch ${batch}`);
              // A copy: the runner may reuse or release the buffers it returns once this callback ends.
              list.push({ name: h, dtype: t.dtype, dims: [...t.dims], values: t.values.slice() });
              handOnBytes += t.values.byteLength;
            }
            // Over budget: later passes start further back (from the values kept so far or the inputs), same results.
            if (keptBytes + handOnBytes > reuseBudget) {
              handOn.clear();
              handOnBytes = 0;
            }
          }
          const valuesOf = (name: string): { t: TensorMap[string]; x: Float32Array } => {
            const t = out[name];
            const x = t && floatValues(t, name);
            if (!t || !x) throw new QuantError('INVALID_ARGUMENT', `the runtime returned no value for tensor '${name}' in batch ${batch}`);
            return { t, x };
          };
          for (const [l, f] of fetch) {
            const { t, x } = valuesOf(f.x);
            // The float model's value of the same tensor: same dims, the rows paired one to one.
            const xf = f.floatX === undefined ? undefined : valuesOf(f.floatX).x;
            const s = stats.get(l)!;
            if (l.recurrent) {
              const h0 = f.h ? valuesOf(f.h).x : undefined;
              const hf = f.floatH ? valuesOf(f.floatH).x : undefined;
              const dirs = t.dims.length === 4 ? t.dims[l.recurrent.layout === 0 ? 1 : 2] : undefined;
              if (t.dims.length !== 4 || dirs !== l.groups || t.dims[3] !== l.cols) throw new QuantError('SHAPE_MISMATCH', `the Y output '${f.x}' of ${label(l.node)} has dims [${t.dims.join(', ')}], its R expects ${l.groups} directions of ${l.cols}`);
              for (let d = 0; d < l.groups; d++) {
                const reverse = l.recurrent.direction === 'reverse' || (l.recurrent.direction === 'bidirectional' && d === 1);
                const r = previousHiddenStates(x, t.dims, h0, l.recurrent.layout, d, reverse);
                addRows(s[d]!, r.data, r.rows, xf && previousHiddenStates(xf, t.dims, hf, l.recurrent.layout, d, reverse).data);
              }
              continue;
            }
            const axis = l.channelAxis < 0 ? t.dims.length + l.channelAxis : l.channelAxis;
            if (t.dims[axis] !== l.cols * l.groups) throw new QuantError('SHAPE_MISMATCH', `tensor '${f.x}' has ${t.dims[axis]} channels on axis ${axis}, its weight expects ${l.cols * l.groups}`);
            for (let g = 0; g < l.groups; g++) {
              const r = channelRows(x, t.dims, axis, g * l.cols, l.cols);
              addRows(s[g]!, r.data, r.rows, xf && channelRows(xf, t.dims, axis, g * l.cols, l.cols).data);
              const geo = geometry.get(l);
              const patchDrift = s[g]!.patchDrift;
              if (geo) addConvPatches(s[g]!.patchHessian!, x, t.dims, geo, g * l.cols, l.cols, patchRowsBound(l.weights[0]!.scheme), patchDrift && { acc: patchDrift, float: xf! });
            }
          }
          seen++;
        },
        names,
      );
      for (const [h, list] of handOn) keep.set(h, list);
      keptBytes += handOnBytes;
      for (const l of fetch.keys()) captured.set(l, (captured.get(l) ?? 0) + (plan.batches?.length ?? seen));
    }
    if (ran && seen === 0 && plans.length === 1 && !plans[0]!.batches) throw new QuantError('EMPTY_INPUT', 'calibration got no batches: expected at least one set of model inputs');
    batches = Math.max(batches, seen);
    await o.prepareLayers?.(group.map((l) => ({ layer: l, stats: stats.get(l)! })));
    for (const l of group) {
      const written = o.quantizeLayer(l, stats.get(l)!);
      if (o.sequential) {
        for (const w of written) {
          const dims = l.weights.find((x) => x.name === w.name)!.tensor.dims.map(Number);
          const axis = w.scheme.form === 'matmulnbits' ? 0 : w.scheme.form === 'gather-block' ? 1 : (w.scheme.granularity as { axis: number }).axis;
          const blockSize = w.scheme.form === 'dequantize-linear' ? (w.scheme.granularity as { blockSize: number }).blockSize : w.scheme.blockSize;
          const scope = scopeOfConstant(l.node, w.name, placed);
          if (!scope) throw new Error(`weight '${w.name}' of ${label(l.node)} has no defining graph`);
          setConstant(runningGraph.get(scope)!, w.name, dequantizeBlocked(w.weight, dims, axis, blockSize));
        }
      }
      done++;
      o.onProgress?.({ phase: 'calibrate', done, total: layers.length });
    }
  }
  for (const l of sorted) if (!sources.has(l)) sources.set(l, describeSource(l, captured.get(l) ?? 0, batches, plans, placed, planFailure));
  return { summary: { batches, layers: captured.size, passes: groups.length, sequential: o.sequential, floatTargets }, sources };
}

/**
 * Per main node of a plan's inlined model, the last pass whose weights it reads: the node of the
 * layer (or the Loop, Scan or If whose body holds it), every node reading the weight's name
 * (through subgraphs too), and a Constant node that holds it.
 */
function weightPasses(layers: readonly WeightLayer[], passOf: ReadonlyMap<WeightLayer, number>, inlined: Pick<InlinedModel, 'model' | 'nodes' | 'mainNodes'>, runningNode: ReadonlyMap<NodeProto, NodeProto>, placed: ReadonlyMap<NodeProto, Placement>): Map<NodeProto, number> {
  const byName = new Map<string, number>();
  const out = new Map<NodeProto, number>();
  const mark = (n: NodeProto, p: number): void => void out.set(n, Math.max(out.get(n) ?? -1, p));
  const name = (n: string | undefined, p: number): void => void (n && byName.set(n, Math.max(byName.get(n) ?? -1, p)));
  for (const l of layers) {
    const p = passOf.get(l)!;
    for (const w of l.weights) name(w.name, p);
    // An inlined branch may rename the weight: the copy's input says what it is called now.
    name(inlined.nodes.get(runningNode.get(l.node)!)?.input[l.weightInput], p);
    for (let n: NodeProto | undefined = l.node; n; n = placed.get(n)?.owner?.node) {
      const c = inlined.nodes.get(runningNode.get(n)!);
      if (c && inlined.mainNodes.has(c)) {
        mark(c, p);
        break;
      }
    }
  }
  for (const n of inlined.model.graph!.node) {
    for (const r of [...nodeReads(n), ...n.output]) {
      const p = byName.get(r);
      if (p !== undefined) mark(n, p);
    }
  }
  return out;
}

/** What a pass fetches for a layer: its input (R of a recurrent op: Y and initial_h), and with float targets the float model's same values. */
interface Fetch {
  readonly x: string;
  readonly h?: string;
  readonly floatX?: string;
  readonly floatH?: string;
}

/** The prefix of the float model's values when it runs beside the running model (float targets). */
const FLOAT_PREFIX = 'quantkit.float/';

/** The main-graph inputs the float copy reads under their own names: the model's run-time inputs (an input with an initializer of the same name is a weight, and is renamed). */
function sharedInputs(g: GraphProto): Set<string> {
  const weights = new Set(g.initializer.map((t) => t.name));
  return new Set(g.input.map((v) => v.name).filter((n) => !weights.has(n)));
}

/** The batches with the values a pass is fed from earlier passes added (the same batch index each pass). */
async function* withKept(batches: AsyncIterable<TensorMap>, fed: readonly string[], kept: ReadonlyMap<string, readonly TensorData[]>): AsyncIterable<TensorMap> {
  let i = 0;
  for await (const b of batches) {
    if (fed.length) {
      const feed = Object.assign(Object.create(null) as TensorMap, b);
      for (const f of fed) {
        const t = kept.get(f)![i];
        if (!t) throw new QuantError('INVALID_ARGUMENT', `calibration batch ${i} was not read by the previous pass: the calibration data must yield the same batches on every pass`);
        feed[f] = t;
      }
      yield feed;
    } else yield b;
    i++;
  }
}

const tensorBytes = (list: readonly TensorData[]): number => list.reduce((s, t) => s + t.values.byteLength, 0);

function floatValues(t: TensorMap[string], name: string): Float32Array {
  if (t.dtype === 'float16') return float16BitsToFloat32(t.values as Uint16Array);
  if (t.dtype === 'float32') return t.values as Float32Array;
  throw new QuantError('UNSUPPORTED', `tensor '${name}' is ${t.dtype}: weight calibration reads float activations`);
}

function describeSource(l: WeightLayer, captured: number, total: number, plans: readonly BranchChoice[], placed: ReadonlyMap<NodeProto, Placement>, planFailure: string | undefined): LayerCalibrationSource {
  const what = l.recurrent ? `hidden states h(t-1) of ${label(l.node)} (its Y output shifted one step, initial_h first)` : `input '${l.tensor}'`;
  const chain = enclosing(l.node, placed);
  const where = chain.length ? `inside ${chain.map((e) => `${label(e.node)} ${e.attribute}`).join(' > ')}` : 'in the main graph';
  if (captured > 0) {
    const all = plans.reduce((s, p) => s + (p.batches?.length ?? total), 0);
    return { batches: captured, source: `${what} captured ${where} on ${captured} of ${all} batches` };
  }
  if (planFailure) return { batches: 0, source: `calibration-free: the branches taken ${where} could not be determined (${planFailure})` };
  const missed = chain.find((e) => !plans.some((p) => p.choices.get(e.node) === (e.attribute === 'then_branch')));
  return { batches: 0, source: missed ? `calibration-free: no calibration batch takes the ${missed.attribute} of ${label(missed.node)}` : `calibration-free: ${what} was not captured ${where}` };
}
