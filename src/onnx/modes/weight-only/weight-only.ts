import type { NodeProto, TensorProto } from 'onnx-buf';
import { isQuantError, QuantError } from '../../../core/errors.js';
import { makeNode } from '../../../formats/onnx/builders.js';
import { onnxDtypeOf } from '../../../formats/onnx/onnx-dtypes.js';
import { makeTensor, readFloat32, tensorDims, tensorSize } from '../../../formats/onnx/tensor.js';
import type { ConstantSource, GraphIndex } from '../../graph/graph.js';
import { allGraphs, indexGraph, NameGenerator, resolveConstant, usesOf } from '../../graph/graph.js';
import type { GraphEdit } from '../../graph/graph-edit.js';
import { applyEdits } from '../../graph/graph-edit.js';
import { castMulWeight } from './cast-mul-weight.js';
import { blockedForDequantizeLinear, quantizeForDequantizeLinear } from './dequantize-linear-weight.js';
import type { AwqScalePlan } from './awq-input-scales.js';
import { placeAwqScales } from './awq-input-scales.js';
import { writeFloatValues } from '../../graph/scale-channels.js';
import { packMatMulNBits, quantizeForMatMulNBits } from './matmul-nbits.js';
import type { BlockedWeight } from './blocked-weight.js';
import type { BlockedWeightOptions } from './blocked-weight.js';
import { bitsOf, quantizeBlockedWeight, signedDtype } from './blocked-weight.js';
import type { BlockedWeightExecutor, BlockedWeightJob } from './blocked-weight-job.js';
import { blockedWeightJob } from './blocked-weight-job.js';
import { CALIBRATED_METHODS, isBlockDtype } from '../../quantize-options.js';
import type { BlockDtype, QuantizeOptions } from '../../quantize-options.js';
import type { OpsetUpgrade } from '../../graph/opset-upgrade.js';
import { describeOpsetUpgrade, upgradeOpset } from '../../graph/opset-upgrade.js';
import type { LayerStats } from './layer-stats.js';
import { calibrateWeightLayers, layerInputOf } from './weight-calibration.js';
import type { WeightLayer } from './weight-calibration.js';
import { float32ToFloat16Bits } from '../../../core/float16.js';
import type { WeightInputSpec } from '../../graph/op-specs.js';
import { OP_SPECS, opSpecOf } from '../../graph/op-specs.js';
import type { QuantizeModeContext, QuantizeModeImpl } from '../mode-impl.js';
import type { InputScalePlacement, NodeReport, QuantizeReport } from '../../quantize-report.js';
import { nodeName } from '../../quantize-report.js';
import type { WeightScheme } from './weight-scheme.js';
import { chooseWeightScheme, schemeKey } from './weight-scheme.js';

type QuantScheme = Exclude<WeightScheme, { form: 'float' }>;

/** One weight input of one node that will be quantized. */
interface PlannedUse {
  readonly node: NodeProto;
  readonly graph: GraphIndex;
  readonly input: number;
  readonly scheme: QuantScheme;
}

/** A constant (initializer or Constant node output) and every planned use of it. */
interface SourcePlan {
  readonly name: string;
  readonly source: ConstantSource;
  readonly uses: PlannedUse[];
}

interface NodeOutcome {
  tensors: string[];
  scheme?: QuantScheme;
  method?: string;
  methodNote?: string;
  inputScale?: InputScalePlacement;
  /** The form written for the first quantized weight ('Cast+Mul' or what describeScheme says). */
  form?: string;
  floatReasons: string[];
  /** Calibrated methods: per weight, where its statistics came from or why there are none. */
  calibration: string[];
}

type Int8Form = QuantizeModeContext['options']['int8Form'];

const q8 = (s: QuantScheme): boolean => s.dtype === 'int8' || s.dtype === 'uint8';

/** True when an 8-bit weight of this scheme is written as Cast+Mul (per tensor or per axis; 4-bit and blocked stay DequantizeLinear; with int8Form 'matmulnbits', what is not a 2-D MatMul weight). */
function writesCastMul(s: QuantScheme, int8Form: Int8Form): boolean {
  return int8Form !== 'dequantize-linear' && s.form === 'dequantize-linear' && (s.dtype === 'int8' || s.dtype === 'uint8') && s.granularity.kind !== 'per-block';
}

/**
 * Weight-only quantization: the weights of the selected ops (MatMul, Gemm, Conv by default, any op
 * of OP_SPECS on request) become integer initializers with DequantizeLinear in front of the
 * original op (or MatMulNBits replacing a 4-bit MatMul); activations stay float. Weights may be
 * initializers or Constant nodes, of the main graph or of an outer scope seen from an If/Loop/Scan
 * body; a weight shared by several nodes with the same scheme is quantized once. When every use of
 * a weight is quantized the float tensor is removed and the DequantizeLinear takes its name;
 * otherwise the float tensor stays for the other users.
 */
export const weightOnlyMode: QuantizeModeImpl = {
  mode: 'weight-only',
  defaultOpTypes: ['MatMul', 'Gemm', 'Conv', 'LSTM', 'GRU', 'RNN'],
  async quantize(ctx) {
    return quantizeWeightOnly(ctx);
  },
};

/** The report of weight-only mode; opsetUpgrade is present when raiseOpset raised the model's opset. */
export interface WeightOnlyQuantizeReport extends QuantizeReport {
  readonly opsetUpgrade?: OpsetUpgrade;
  /** Calibrated methods: batches read, layers whose inputs were captured, passes over the data. */
  /** floatTargets: each pass ran the float model beside, for the drift of every layer's input (GPTQ fitted to the float model). */
  readonly calibration?: { readonly batches: number; readonly layers: number; readonly passes: number; readonly sequential: boolean; readonly floatTargets: boolean };
}

/** What choosing codes needs besides the weight: the options, the model's float type, the calibration statistics per node. */
interface BlockedContext {
  readonly options: QuantizeOptions;
  readonly stats: ReadonlyMap<PlannedUse, readonly LayerStats[]>;
  /** Quantized weights by constant and schemeKey, computed during sequential calibration (GPTQ), reused when writing. */
  readonly cache: Map<TensorProto, Map<string, BlockedWeight>>;
  /** AWQ: the scales searched per group of layers and where each layer's 1/s goes (placeAwqScales). */
  awq?: AwqScalePlan;
}

/** True when a scheme's codes are chosen by quantizeBlockedWeight rather than the historical RTN writers (kept bit-for-bit). */
function usesBlockedPath(s: QuantScheme, options: QuantizeOptions, floatType: 'float32' | 'float16'): boolean {
  if (s.form === 'gather-block') return true;
  // Per-axis with a block dtype: a depthwise Conv per output channel (convPerChannel).
  const blocked = s.form === 'matmulnbits' ? isBlockDtype(s.dtype) : s.granularity.kind !== 'per-tensor' && isBlockDtype(s.dtype);
  return blocked && (options.method !== 'rtn' || s.dtype === 'int3' || s.dtype === 'int2' || floatType === 'float16');
}

/** The axis a blocked scheme's blocks run along (MatMulNBits: K, axis 0 of W [K, N]). */
function blockAxis(s: QuantScheme): number {
  return s.form === 'matmulnbits' ? 0 : s.form === 'gather-block' ? 1 : (s.granularity as { axis: number }).axis;
}

const blockSizeOf = (s: QuantScheme): number => (s.form === 'dequantize-linear' ? (s.granularity as { blockSize: number }).blockSize : s.blockSize);

/** Quantizes one weight for one blocked scheme, through the cache. */
function blockedWeightFor(weight: TensorProto, values: Float32Array, dims: readonly number[], s: QuantScheme, use: PlannedUse | undefined, b: BlockedContext, method = b.options.method): BlockedWeight {
  // By the constant itself, not its name: sibling If branches may each hold a different weight of the same name.
  const key = schemeKey(s);
  let byScheme = b.cache.get(weight);
  if (!byScheme) b.cache.set(weight, (byScheme = new Map()));
  const hit = byScheme.get(key);
  if (hit) return hit;
  const chosen = quantizeBlockedWeight(values, dims, blockAxis(s), blockedOptions(s, b, method, use), use ? b.stats.get(use) : undefined);
  const w = withRecurrentNote(chosen, method, b.options);
  byScheme.set(key, w);
  return w;
}

/** A Conv weight blocked along a kernel axis (axis 2 or later: convTapsBlockAxis) rather than its input channels. */
function isKernelTapsScheme(s: QuantScheme): boolean {
  return s.form === 'dequantize-linear' && s.granularity.kind === 'per-block' && s.granularity.axis >= 2;
}

function blockedOptions(s: QuantScheme, b: BlockedContext, method = b.options.method, use?: PlannedUse): BlockedWeightOptions {
  const awqScale = method === 'awq' && use ? b.awq?.scales.get(use.node) : undefined;
  return { dtype: s.dtype as BlockDtype, symmetric: s.symmetric, blockSize: blockSizeOf(s), method, damp: b.options.damp, actOrder: b.options.actOrder, ...(b.options.floatTargets > 0 && { floatShare: b.options.floatTargets }), perChannel: s.form === 'dequantize-linear' && s.granularity.kind === 'per-axis', kernelTaps: use?.node.opType === 'Conv' && isKernelTapsScheme(s), ...(awqScale && { awqScale }) };
}

/**
 * The method a calibrated layer is quantized with when its statistics arrive: AWQ divides the op's
 * input by its scales, and a recurrent weight's input is the hidden state inside the op, where
 * nothing can divide it, so R is chosen by search weighted by the hidden states. `null`: AWQ's other
 * layers wait until every layer's statistics are in (a layer's scales may fold into the weight of
 * the layer before it).
 */
function calibratedLayerMethod(layer: WeightLayer, options: QuantizeOptions): QuantizeOptions['method'] | null {
  if (options.method !== 'awq') return options.method;
  return layer.recurrent ? 'search' : null;
}

/** A weight quantized by another method than the one asked for says why. */
function withRecurrentNote(w: BlockedWeight, method: QuantizeOptions['method'], options: QuantizeOptions): BlockedWeight {
  return method === options.method ? w : { ...w, fallback: `${options.method}'s input scales cannot be folded into a recurrent state (chosen by search weighted by the hidden states)` };
}

/**
 * Quantizes the weights of one calibration pass's layers through `run` (all started at once, the
 * largest first, so the threads stay busy), into the cache blockedWeightFor reads: the same
 * results it would compute itself, from the same values, options and statistics.
 */
async function prefetchBlocked(items: readonly { readonly layer: WeightLayer; readonly stats: readonly LayerStats[] }[], b: BlockedContext, run: BlockedWeightExecutor, awqPlaced = false): Promise<void> {
  const jobs: { tensor: TensorProto; key: string; method: QuantizeOptions['method']; job: BlockedWeightJob }[] = [];
  for (const { layer, stats } of items) {
    // Once AWQ's scales are placed, its layers (not the recurrent ones, chosen when their statistics came) are quantized with them.
    const method = awqPlaced ? (layer.recurrent ? null : 'awq') : calibratedLayerMethod(layer, b.options);
    for (const w of layer.weights) {
      if (!awqPlaced) (b.stats as Map<PlannedUse, readonly LayerStats[]>).set(w.use as PlannedUse, stats);
      if (method === null) continue;
      const key = schemeKey(w.scheme);
      if (b.cache.get(w.tensor)?.has(key) || jobs.some((j) => j.tensor === w.tensor && j.key === key)) continue;
      jobs.push({ tensor: w.tensor, key, method, job: blockedWeightJob(readFloat32(w.tensor), tensorDims(w.tensor), blockAxis(w.scheme), blockedOptions(w.scheme, b, method, w.use as PlannedUse), b.stats.get(w.use as PlannedUse)) });
    }
  }
  // GPTQ's work: rows·cols² for the updates, cols³ for the factor (cols along the blocked axis).
  const cost = (j: BlockedWeightJob): number => (j.values.length + (j.dims[j.axis] ?? 1) ** 2) * (j.dims[j.axis] ?? 1);
  jobs.sort((x, y) => cost(y.job) - cost(x.job));
  const done = await Promise.all(jobs.map(async (j) => [j, await run(j.job)] as const));
  for (const [j, w] of done) {
    let byScheme = b.cache.get(j.tensor);
    if (!byScheme) b.cache.set(j.tensor, (byScheme = new Map()));
    byScheme.set(j.key, withRecurrentNote(w, j.method, b.options));
  }
}

function describeScheme(s: QuantScheme): Pick<Extract<NodeReport, { status: 'quantized' }>, 'granularity' | 'axis' | 'blockSize' | 'form'> {
  if (s.form === 'matmulnbits') return { granularity: 'per-block', axis: 0, blockSize: s.blockSize, form: 'com.microsoft.MatMulNBits' };
  if (s.form === 'gather-block') return { granularity: 'per-block', axis: 1, blockSize: s.blockSize, form: 'com.microsoft.GatherBlockQuantized' };
  const form = s.domain === '' ? 'DequantizeLinear' : 'com.microsoft.DequantizeLinear';
  const g = s.granularity;
  if (g.kind === 'per-tensor') return { granularity: 'per-tensor', form };
  if (g.kind === 'per-axis') return { granularity: 'per-channel', axis: g.axis, form };
  return { granularity: 'per-block', axis: g.axis, blockSize: g.blockSize, form };
}

async function quantizeWeightOnly(ctx: QuantizeModeContext): Promise<{ model: typeof ctx.model; report: WeightOnlyQuantizeReport }> {
  const { model, options } = ctx;
  if (options.method !== 'rtn' && !isBlockDtype(options.dtype)) {
    throw new QuantError('INVALID_CONFIG', `method ${options.method} chooses codes per block of 4 bits or fewer (dtype int4, uint4, int3, int2), got dtype ${options.dtype}: 8-bit rounding is already within a fraction of a percent, use rtn`);
  }
  const warnings: string[] = [];
  let opset = ctx.opset;
  let upgrade: OpsetUpgrade | undefined;
  if (options.raiseOpset && isBlockDtype(options.dtype) && opset < 21) {
    upgrade = upgradeOpset(model, 21);
    opset = 21;
    warnings.push(describeOpsetUpgrade(upgrade, 'blocked DequantizeLinear for Conv, Gemm and recurrent weights needs it'));
  }
  const root = indexGraph(model.graph!);
  const names = new NameGenerator(root);
  const ir = Number(model.irVersion);
  const exclude = new Set(options.exclude);
  const outcomes = new Map<NodeProto, NodeOutcome>();
  const order: NodeProto[] = [];
  const sources = new Map<GraphIndex, Map<string, SourcePlan>>();

  for (const g of allGraphs(root)) {
    for (const node of g.graph.node) {
      if (!ctx.opTypes.has(node.opType)) continue;
      const outcome: NodeOutcome = { tensors: [], floatReasons: [], calibration: [] };
      outcomes.set(node, outcome);
      order.push(node);
      if (node.name && exclude.has(node.name)) {
        outcome.floatReasons.push('excluded by name');
        continue;
      }
      const spec = opSpecOf(node);
      if (!spec) {
        outcome.floatReasons.push(`${node.domain ? `${node.domain}.` : ''}${node.opType} has no weight input quantkit knows (ops with weights: ${Object.keys(OP_SPECS).join(', ')})`);
        continue;
      }
      const inputs: WeightInputSpec[] = [...spec.weights];
      if (options.quantizeBias && spec.bias !== undefined) inputs.push({ input: spec.bias, channelAxis: 0, reductionAxis: 0 });
      for (const w of inputs) {
        const name = node.input[w.input];
        if (!name) continue;
        const source = resolveConstant(g, name, ir);
        if (!source) {
          outcome.floatReasons.push(`input '${name}' is computed at run time, not a constant weight`);
          continue;
        }
        const dtype = onnxDtypeOf(source.tensor.dataType);
        if (dtype !== 'float32' && dtype !== 'float16') {
          outcome.floatReasons.push(`weight '${name}' is ${dtype}: only float32 and float16 weights are quantized`);
          continue;
        }
        const isBias = w.input === spec.bias;
        const biasOptions = isBias && (options.dtype === 'int4' || options.dtype === 'uint4') ? { ...options, dtype: options.dtype === 'int4' ? ('int8' as const) : ('uint8' as const) } : options;
        let scheme = chooseWeightScheme(node, w, tensorDims(source.tensor), biasOptions, opset);
        if (options.int8Form === 'matmulnbits' && scheme.form === 'dequantize-linear' && (scheme.dtype === 'int8' || scheme.dtype === 'uint8') && node.opType === 'MatMul' && !isBias && tensorDims(source.tensor).length === 2) {
          scheme = { form: 'matmulnbits', dtype: scheme.dtype, symmetric: scheme.symmetric, blockSize: options.blockSize };
        }
        if (scheme.form === 'float') {
          outcome.floatReasons.push(`weight '${name}': ${scheme.reason}`);
          continue;
        }
        // float16 weights keep float16 scales: only DequantizeLinear and the blocked writers take them.
        if (dtype === 'float16' && !usesBlockedPath(scheme, options, 'float16') && (scheme.form === 'matmulnbits' || options.int8Form !== 'dequantize-linear')) {
          outcome.floatReasons.push(`weight '${name}' is float16: 8-bit float16 weights are written as DequantizeLinear only (int8Form dequantize-linear)`);
          continue;
        }
        let byName = sources.get(source.scope);
        if (!byName) sources.set(source.scope, (byName = new Map()));
        let plan = byName.get(name);
        if (!plan) byName.set(name, (plan = { name, source, uses: [] }));
        plan.uses.push({ node, graph: g, input: w.input, scheme });
      }
    }
  }

  // Calibrated methods: statistics of each planned layer's input, one pass per group of layers (GPTQ: in graph order, on the model whose earlier layers are already quantized).
  const blocked: BlockedContext = { options, stats: new Map(), cache: new Map() };
  let calibration: WeightOnlyQuantizeReport['calibration'];
  if (CALIBRATED_METHODS.includes(options.method) && ctx.hooks.calibrationData && ctx.hooks.runModel) {
    const layers: WeightLayer[] = [];
    const planned = [...sources.values()].flatMap((byName) => [...byName.values()]);
    const noInput = new Map<NodeProto, string[]>();
    for (const node of order) {
      const uses = planned.flatMap((p) => p.uses.filter((u) => u.node === node && usesBlockedPath(u.scheme, options, onnxDtypeOf(p.source.tensor.dataType) as 'float32' | 'float16')).map((u) => ({ plan: p, use: u })));
      // Each weight gets the statistics of what it multiplies: an LSTM's W the sequence, its R the hidden states.
      for (const { plan, use } of uses) {
        const input = layerInputOf(node, use.input, [tensorDims(plan.source.tensor)], ir, use.graph);
        if (input) layers.push({ node, ...input, weights: [{ name: plan.name, tensor: plan.source.tensor, scheme: use.scheme, use }] });
        else (noInput.get(node) ?? noInput.set(node, []).get(node)!).push(`'${plan.name}': calibration-free: no run-time value carries the channels this weight reduces over`);
      }
    }
    for (const [node, notes] of noInput) outcomes.get(node)!.calibration.push(...notes);
    if (layers.length) {
      const result = await calibrateWeightLayers(model, layers, {
        runModel: ctx.hooks.runModel,
        data: ctx.hooks.calibrationData,
        hessian: options.method === 'gptq',
        sample: options.method === 'awq',
        sequential: options.method === 'gptq',
        floatTargets: options.floatTargets > 0,
        onProgress: ctx.hooks.onProgress,
        ...(ctx.hooks.quantizeBlocked && { prepareLayers: (items) => prefetchBlocked(items, blocked, ctx.hooks.quantizeBlocked!) }),
        quantizeLayer: (layer, stats) => {
          return layer.weights.flatMap((w) => {
            (blocked.stats as Map<PlannedUse, readonly LayerStats[]>).set(w.use as PlannedUse, stats);
            const method = calibratedLayerMethod(layer, options);
            if (method === null) return [];
            return { name: w.name, weight: blockedWeightFor(w.tensor, readFloat32(w.tensor), tensorDims(w.tensor), w.scheme, w.use as PlannedUse, blocked, method), scheme: w.scheme };
          });
        },
      });
      for (const l of layers) outcomes.get(l.node)!.calibration.push(`'${l.weights[0]!.name}': ${result.sources.get(l)!.source}`);
      calibration = result.summary;
      if (options.method === 'awq') {
        const awqLayers = layers.filter((l) => !l.recurrent).map((l) => {
          const w = l.weights[0]!;
          const scheme = w.scheme;
          const dtype = scheme.dtype as BlockDtype;
          return { node: l.node, input: l, weight: w.name, tensor: w.tensor, searchable: !(scheme.form === 'dequantize-linear' && (scheme.granularity.kind === 'per-axis' || (l.node.opType === 'Conv' && isKernelTapsScheme(scheme)))), blockAxis: blockAxis(scheme), lowbit: { bits: bitsOf(dtype), signed: signedDtype(dtype), symmetric: scheme.symmetric, blockSize: blockSizeOf(scheme) }, stats: blocked.stats.get(w.use as PlannedUse) };
        });
        const floatType = onnxDtypeOf(layers[0]!.weights[0]!.tensor.dataType) === 'float16' ? 'float16' : 'float32';
        blocked.awq = await placeAwqScales(awqLayers, { model, root, ir, names, floatType, runModel: ctx.hooks.runModel, data: ctx.hooks.calibrationData });
        // A weight rewritten in place by a fold: every plan of it reads the new values (a Constant node's plan holds a copy).
        for (const [name, values] of blocked.awq.written) {
          const plan = sources.get(root)?.get(name);
          if (plan) writeFloatValues(plan.source.tensor, values);
        }
        if (ctx.hooks.quantizeBlocked) await prefetchBlocked(layers.map((layer) => ({ layer, stats: [] })), blocked, ctx.hooks.quantizeBlocked, true);
      }
    }
  } else if (CALIBRATED_METHODS.includes(options.method) && options.method !== 'search') {
    warnings.push(`method ${options.method} needs calibration inputs and none were given: weights are quantized by the calibration-free search instead`);
  }

  const edits: GraphEdit[] = [...(blocked.awq?.edits ?? [])];
  let before = 0;
  let after = 0;
  // Counted in elements: a weight in float_data has no raw_data bytes to count.
  const total = [...sources.values()].flatMap((m) => [...m.values()]).reduce((s, p) => s + tensorSize(p.source.tensor), 0);
  let done = 0;
  let microsoft = false;

  for (const byName of sources.values()) {
    for (const plan of byName.values()) {
      const result = quantizeSource(plan, names, edits, options.int8Form, blocked);
      if (result.error) {
        for (const u of plan.uses) outcomes.get(u.node)!.floatReasons.push(`weight '${plan.name}': ${result.error}`);
      } else {
        before += result.before;
        after += result.after;
        microsoft ||= result.microsoft;
        for (const u of plan.uses) {
          const o = outcomes.get(u.node)!;
          o.tensors.push(plan.name);
          o.scheme ??= u.scheme;
          o.form ??= writesCastMul(u.scheme, options.int8Form) && !result.blocked ? 'Cast+Mul' : describeScheme(u.scheme).form;
          const how = result.methods?.get(u);
          if (how && how.method !== 'rtn') o.method ??= how.method;
          if (how?.note) o.methodNote ??= how.note;
          if (how?.inputScale) o.inputScale ??= how.inputScale;
        }
      }
      done += tensorSize(plan.source.tensor);
      ctx.hooks.onProgress?.({ phase: 'quantize', done, total });
    }
  }
  if (microsoft) edits.push({ kind: 'set-opset', domain: 'com.microsoft', version: 1 });
  applyEdits(model, edits);

  const nodes: NodeReport[] = order.map((node) => {
    const o = outcomes.get(node)!;
    const label = nodeName(node);
    if (o.scheme && o.tensors.length) {
      return { node: label, opType: node.opType, status: 'quantized', tensors: o.tensors, dtype: o.scheme.dtype, ...describeScheme(o.scheme), form: o.form ?? describeScheme(o.scheme).form, ...(o.method && { method: o.method }), ...(o.methodNote && { methodNote: o.methodNote }), ...(o.calibration.length && { calibration: o.calibration.join('; ') }), ...(o.inputScale && { inputScale: o.inputScale }) };
    }
    return { node: label, opType: node.opType, status: 'float', reason: o.floatReasons.join('; ') || 'no weight input to quantize' };
  });
  return { model, report: { mode: 'weight-only', dtype: options.dtype, nodes, weightBytesBefore: before, weightBytesAfter: after, warnings, ...(upgrade && { opsetUpgrade: upgrade }), ...(calibration && { calibration }) } };
}

interface MethodOutcome {
  method: string;
  note?: string;
  inputScale?: InputScalePlacement;
}

/** Where AWQ's 1/s of a layer goes: folded as placeAwqScales placed it (the layer then has that s), else nowhere when every scale is 1, else a Mul in front. */
function inputScalePlacement(node: NodeProto, scale: Float32Array, b: BlockedContext): InputScalePlacement {
  const placed = b.awq?.placements.get(node);
  if (placed?.applied === 'folded') return placed;
  if (scale.every((v) => v === 1)) return placed?.applied === 'none' ? placed : { applied: 'none', reason: 'every scale is 1' };
  return placed?.applied === 'Mul' ? placed : { applied: 'Mul', reason: placed ? `its scales are not all 1 after all (${placed.reason})` : 'no calibration statistics placed its scales' };
}

/** What the report says of a layer's input scales: a weight with none of its own (per output channel) still says where its group's went. */
function reportedPlacement(node: NodeProto, bw: BlockedWeight, b: BlockedContext): InputScalePlacement | undefined {
  if (bw.inputScale) return inputScalePlacement(node, bw.inputScale, b);
  return b.options.method === 'awq' ? b.awq?.placements.get(node) : undefined;
}

function needsInputMul(node: NodeProto, scale: Float32Array, b: BlockedContext): boolean {
  return inputScalePlacement(node, scale, b).applied === 'Mul';
}

/** True when every use of the constant (every node input naming it, in its scope and nested scopes) is planned, and no graph output is the constant itself. */
function allUsesPlanned(plan: SourcePlan): boolean {
  const scope = plan.source.scope;
  for (const g of allGraphs(scope)) {
    if (g.outputs.has(plan.name) && (g === scope || resolveConstant(g, plan.name)?.scope === scope)) return false;
  }
  for (const { node } of usesOf(scope, plan.name)) {
    for (let i = 0; i < node.input.length; i++) {
      if (node.input[i] !== plan.name) continue;
      if (!plan.uses.some((u) => u.node === node && u.input === i)) return false;
    }
  }
  return true;
}

function quantizeSource(
  plan: SourcePlan,
  names: NameGenerator,
  edits: GraphEdit[],
  int8Form: Int8Form,
  blocked: BlockedContext,
): { error?: string; before: number; after: number; microsoft: boolean; blocked?: boolean; methods?: Map<PlannedUse, MethodOutcome> } {
  const { source, name } = plan;
  const scopeGraph = source.scope.graph;
  let values: Float32Array;
  const dims = tensorDims(source.tensor);
  const local: GraphEdit[] = [];
  let after = 0;
  let microsoft = false;
  const floatType = onnxDtypeOf(source.tensor.dataType) === 'float16' ? 'float16' : 'float32';
  const methods = new Map<PlannedUse, MethodOutcome>();
  let anyBlocked = false;
  try {
    values = readFloat32(source.tensor);
    const byScheme = new Map<string, PlannedUse[]>();
    for (const u of plan.uses) {
      const key = schemeKey(u.scheme);
      const list = byScheme.get(key);
      if (list) list.push(u);
      else byScheme.set(key, [u]);
    }
    const covered = allUsesPlanned(plan);
    const dqSchemes = [...byScheme.values()].filter((us) => us[0]!.scheme.form === 'dequantize-linear');
    // The DequantizeLinear can take the weight's own name (no rewiring, outer-scope references keep working) only when it serves every use.
    const inPlace = covered && dqSchemes.length === 1;
    const base = name.replace(/[^A-Za-z0-9_.:/-]/g, '_');
    const add = (t: TensorProto): void => {
      after += t.rawData.length;
      local.push({ kind: 'add-initializer', graph: scopeGraph, tensor: t });
    };
    for (const uses of byScheme.values()) {
      const scheme = uses[0]!.scheme;
      if (usesBlockedPath(scheme, blocked.options, floatType)) {
        anyBlocked = true;
        const bw = blockedWeightFor(source.tensor, values, dims, scheme, uses[0], blocked);
        for (const u of uses) methods.set(u, { method: bw.method, ...(bw.fallback && { note: `${blocked.options.method} fell back to ${bw.method}: ${bw.fallback}` }), ...(reportedPlacement(u.node, bw, blocked) && { inputScale: reportedPlacement(u.node, bw, blocked)! }) });
        const inputScaled = (u: PlannedUse): string => {
          const a = u.node.input[0] ?? '';
          if (!bw.inputScale || !needsInputMul(u.node, bw.inputScale, blocked)) return a;
          // AWQ multiplied input channel c of the weight by s[c]: the op's input is divided by it, broadcast along its channel axis.
          const rank = dims.length;
          const isConv = u.node.opType === 'Conv' || u.node.opType === 'ConvTranspose';
          const inv = Float32Array.from(bw.inputScale, (v) => 1 / v);
          const shape = isConv ? [inv.length, ...new Array<number>(rank - 2).fill(1)] : [inv.length];
          const t = floatType === 'float16' ? makeTensor(names.next(`${base}_awq_inverse_scale`), 'float16', shape, float32ToFloat16Bits(inv)) : makeTensor(names.next(`${base}_awq_inverse_scale`), 'float32', shape, inv);
          add(t);
          const out = names.next(`${a}_awq_scaled`);
          local.push({ kind: 'add-node', graph: u.graph.graph, node: makeNode('Mul', [a, t.name], [out], { name: names.next(`${u.node.name || u.node.opType}_awq_Mul`) }), before: u.node });
          return out;
        };
        if (scheme.form === 'gather-block') {
          // GatherBlockQuantized reads 4-bit codes (int4 or uint4; 3- and 2-bit codes are valid int4 codes) and scales of the model's float type.
          const container = scheme.dtype === 'uint4' ? 'uint4' : 'int4';
          const q = blockedForDequantizeLinear({ codes: names.next(`${base}_quantized`), scale: names.next(`${base}_scale`), zeroPoint: names.next(`${base}_zero_point`) }, bw, dims, container, 1, scheme.blockSize, floatType);
          add(q.codes);
          add(q.scale);
          add(q.zeroPoint);
          microsoft = true;
          for (const u of uses) {
            const g = makeNode('GatherBlockQuantized', [q.codes.name, u.node.input[1] ?? '', q.scale.name, q.zeroPoint.name], [...u.node.output], {
              name: names.next(`${u.node.name || 'Gather'}_Q4`),
              domain: 'com.microsoft',
              attributes: { gather_axis: 0, quantize_axis: 1, block_size: scheme.blockSize },
            });
            local.push({ kind: 'replace-node', graph: u.graph.graph, node: u.node, nodes: [g] });
          }
        } else if (scheme.form === 'matmulnbits') {
          const [k, n] = dims as [number, number];
          const bits = scheme.dtype === 'int2' ? 2 : 4;
          const q = packMatMulNBits({ b: names.next(`${base}_Q${bits}`), scales: names.next(`${base}_scales`), zeroPoints: names.next(`${base}_zero_points`) }, bw, k, n, bits, scheme.dtype !== 'uint4', scheme.blockSize, floatType);
          add(q.b);
          add(q.scales);
          if (q.zeroPoints) add(q.zeroPoints);
          microsoft = true;
          for (const u of uses) {
            const a = inputScaled(u);
            const nb = makeNode('MatMulNBits', [a, q.b.name, q.scales.name, ...(q.zeroPoints ? [q.zeroPoints.name] : [])], [...u.node.output], { name: names.next(`${u.node.name || 'MatMul'}_Q${bits}`), domain: 'com.microsoft', attributes: q.attributes });
            local.push({ kind: 'replace-node', graph: u.graph.graph, node: u.node, nodes: [nb] });
          }
        } else {
          const g = scheme.granularity as { axis: number; blockSize: number };
          const container = scheme.container ?? (scheme.dtype as 'int4' | 'uint4');
          const q = blockedForDequantizeLinear({ codes: names.next(`${base}_quantized`), scale: names.next(`${base}_scale`), zeroPoint: names.next(`${base}_zero_point`) }, bw, dims, container, g.axis, g.blockSize, floatType);
          add(q.codes);
          add(q.scale);
          add(q.zeroPoint);
          const output = inPlace ? name : names.next(`${base}_dequantized`);
          const written = [makeNode('DequantizeLinear', [q.codes.name, q.scale.name, q.zeroPoint.name], [output], { name: names.next(`${base}_DequantizeLinear`), domain: scheme.domain, attributes: q.attributes })];
          if (inPlace && source.kind === 'constant-node') local.push({ kind: 'replace-node', graph: scopeGraph, node: source.node!, nodes: written });
          else for (const n of written) local.push({ kind: 'add-node', graph: scopeGraph, node: n, before: source.kind === 'constant-node' ? source.node! : 'start' });
          if (!inPlace) for (const u of uses) local.push({ kind: 'set-input', node: u.node, index: u.input, name: output });
          if (bw.inputScale) for (const u of uses) local.push({ kind: 'set-input', node: u.node, index: 0, name: inputScaled(u) });
        }
      } else if (scheme.form === 'dequantize-linear') {
        const q = quantizeForDequantizeLinear(
          { codes: names.next(`${base}_quantized`), scale: names.next(`${base}_scale`), zeroPoint: names.next(`${base}_zero_point`) },
          values,
          dims,
          scheme.dtype as Exclude<typeof scheme.dtype, 'int3' | 'int2'>,
          scheme.symmetric,
          scheme.granularity,
          scheme.reduceRange,
        );
        const output = inPlace ? name : names.next(`${base}_dequantized`);
        let written: NodeProto[];
        if (floatType === 'float16') {
          // DequantizeLinear's output takes the scale's type: float16 scales keep the model float16.
          const scale = makeTensor(q.scale.name, 'float16', tensorDims(q.scale), float32ToFloat16Bits(readFloat32(q.scale)));
          add(q.codes);
          add(scale);
          add(q.zeroPoint);
          written = [makeNode('DequantizeLinear', [q.codes.name, scale.name, q.zeroPoint.name], [output], { name: names.next(`${base}_DequantizeLinear`), domain: scheme.domain, attributes: q.attributes })];
        } else if (writesCastMul(scheme, int8Form)) {
          const cm = castMulWeight(q, output, (b) => names.next(b), base);
          for (const t of cm.initializers) add(t);
          written = cm.nodes;
        } else {
          add(q.codes);
          add(q.scale);
          add(q.zeroPoint);
          microsoft ||= scheme.domain === 'com.microsoft';
          written = [
            makeNode('DequantizeLinear', [q.codes.name, q.scale.name, q.zeroPoint.name], [output], {
              name: names.next(`${base}_DequantizeLinear`),
              domain: scheme.domain,
              attributes: q.attributes,
            }),
          ];
        }
        if (inPlace && source.kind === 'constant-node') local.push({ kind: 'replace-node', graph: scopeGraph, node: source.node!, nodes: written });
        else for (const n of written) local.push({ kind: 'add-node', graph: scopeGraph, node: n, before: source.kind === 'constant-node' ? source.node! : 'start' });
        if (!inPlace) for (const u of uses) local.push({ kind: 'set-input', node: u.node, index: u.input, name: output });
      } else {
        const [k, n] = dims as [number, number];
        const q = quantizeForMatMulNBits(
          { b: names.next(`${base}_Q${q8(scheme) ? 8 : 4}`), scales: names.next(`${base}_scales`), zeroPoints: names.next(`${base}_zero_points`) },
          values,
          k,
          n,
          scheme.dtype as Exclude<typeof scheme.dtype, 'int3' | 'int2'>,
          scheme.symmetric,
          scheme.blockSize,
        );
        add(q.b);
        add(q.scales);
        if (q.zeroPoints) add(q.zeroPoints);
        microsoft = true;
        for (const u of uses) {
          const a = u.node.input[0] ?? '';
          const nb = makeNode('MatMulNBits', [a, q.b.name, q.scales.name, ...(q.zeroPoints ? [q.zeroPoints.name] : [])], [...u.node.output], {
            name: names.next(`${u.node.name || 'MatMul'}_Q${q8(scheme) ? 8 : 4}`),
            domain: 'com.microsoft',
            attributes: q.attributes,
          });
          local.push({ kind: 'replace-node', graph: u.graph.graph, node: u.node, nodes: [nb] });
        }
      }
    }
    if (covered && !(inPlace && source.kind === 'constant-node')) {
      if (source.kind === 'initializer') local.push({ kind: 'remove-initializer', graph: scopeGraph, name });
      else local.push({ kind: 'remove-node', graph: scopeGraph, node: source.node! });
    }
  } catch (e) {
    if (isQuantError(e)) return { error: e.message, before: 0, after: 0, microsoft: false };
    throw e;
  }
  edits.push(...local);
  return { before: values.length * (floatType === 'float16' ? 2 : 4), after, microsoft, blocked: anyBlocked, methods };
}
