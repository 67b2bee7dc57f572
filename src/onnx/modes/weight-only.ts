import type { NodeProto, TensorProto } from 'onnx-buf';
import { isQuantError } from '../../core/errors.js';
import { makeNode } from '../../formats/onnx/builders.js';
import { onnxDtypeOf } from '../../formats/onnx/onnx-dtypes.js';
import { readFloat32, tensorDims, tensorSize } from '../../formats/onnx/tensor.js';
import type { ConstantSource, GraphIndex } from '../graph/graph.js';
import { allGraphs, indexGraph, NameGenerator, resolveConstant, usesOf } from '../graph/graph.js';
import type { GraphEdit } from '../graph/graph-edit.js';
import { applyEdits } from '../graph/graph-edit.js';
import { castMulWeight } from './cast-mul-weight.js';
import { quantizeForDequantizeLinear } from './dequantize-linear-weight.js';
import { quantizeForMatMulNBits } from './matmul-nbits.js';
import type { WeightInputSpec } from '../graph/op-specs.js';
import { OP_SPECS, opSpecOf } from '../graph/op-specs.js';
import type { QuantizeModeContext, QuantizeModeImpl } from './mode-impl.js';
import type { NodeReport, QuantizeReport } from '../quantize-report.js';
import { nodeName } from '../quantize-report.js';
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
  /** The form written for the first quantized weight ('Cast+Mul' or what describeScheme says). */
  form?: string;
  floatReasons: string[];
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

function describeScheme(s: QuantScheme): Pick<Extract<NodeReport, { status: 'quantized' }>, 'granularity' | 'axis' | 'blockSize' | 'form'> {
  if (s.form === 'matmulnbits') return { granularity: 'per-block', axis: 0, blockSize: s.blockSize, form: 'com.microsoft.MatMulNBits' };
  const form = s.domain === '' ? 'DequantizeLinear' : 'com.microsoft.DequantizeLinear';
  const g = s.granularity;
  if (g.kind === 'per-tensor') return { granularity: 'per-tensor', form };
  if (g.kind === 'per-axis') return { granularity: 'per-channel', axis: g.axis, form };
  return { granularity: 'per-block', axis: g.axis, blockSize: g.blockSize, form };
}

function quantizeWeightOnly(ctx: QuantizeModeContext): { model: typeof ctx.model; report: QuantizeReport } {
  const { model, options } = ctx;
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
      const outcome: NodeOutcome = { tensors: [], floatReasons: [] };
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
        if (dtype !== 'float32') {
          outcome.floatReasons.push(`weight '${name}' is ${dtype}: only float32 weights are quantized`);
          continue;
        }
        const isBias = w.input === spec.bias;
        const biasOptions = isBias && (options.dtype === 'int4' || options.dtype === 'uint4') ? { ...options, dtype: options.dtype === 'int4' ? ('int8' as const) : ('uint8' as const) } : options;
        let scheme = chooseWeightScheme(node, w, tensorDims(source.tensor), biasOptions, ctx.opset);
        if (options.int8Form === 'matmulnbits' && scheme.form === 'dequantize-linear' && (scheme.dtype === 'int8' || scheme.dtype === 'uint8') && node.opType === 'MatMul' && !isBias && tensorDims(source.tensor).length === 2) {
          scheme = { form: 'matmulnbits', dtype: scheme.dtype, symmetric: scheme.symmetric, blockSize: options.blockSize };
        }
        if (scheme.form === 'float') {
          outcome.floatReasons.push(`weight '${name}': ${scheme.reason}`);
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

  const edits: GraphEdit[] = [];
  let before = 0;
  let after = 0;
  // Counted in elements: a weight in float_data has no raw_data bytes to count.
  const total = [...sources.values()].flatMap((m) => [...m.values()]).reduce((s, p) => s + tensorSize(p.source.tensor), 0);
  let done = 0;
  const warnings: string[] = [];
  let microsoft = false;

  for (const byName of sources.values()) {
    for (const plan of byName.values()) {
      const result = quantizeSource(plan, names, edits, options.int8Form);
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
          o.form ??= writesCastMul(u.scheme, options.int8Form) ? 'Cast+Mul' : describeScheme(u.scheme).form;
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
      return { node: label, opType: node.opType, status: 'quantized', tensors: o.tensors, dtype: o.scheme.dtype, ...describeScheme(o.scheme), form: o.form ?? describeScheme(o.scheme).form };
    }
    return { node: label, opType: node.opType, status: 'float', reason: o.floatReasons.join('; ') || 'no weight input to quantize' };
  });
  return { model, report: { mode: 'weight-only', dtype: options.dtype, nodes, weightBytesBefore: before, weightBytesAfter: after, warnings } };
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
): { error?: string; before: number; after: number; microsoft: boolean } {
  const { source, name } = plan;
  const scopeGraph = source.scope.graph;
  let values: Float32Array;
  const dims = tensorDims(source.tensor);
  const local: GraphEdit[] = [];
  let after = 0;
  let microsoft = false;
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
      if (scheme.form === 'dequantize-linear') {
        const q = quantizeForDequantizeLinear(
          { codes: names.next(`${base}_quantized`), scale: names.next(`${base}_scale`), zeroPoint: names.next(`${base}_zero_point`) },
          values,
          dims,
          scheme.dtype,
          scheme.symmetric,
          scheme.granularity,
          scheme.reduceRange,
        );
        const output = inPlace ? name : names.next(`${base}_dequantized`);
        let written: NodeProto[];
        if (writesCastMul(scheme, int8Form)) {
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
          scheme.dtype,
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
  return { before: values.length * 4, after, microsoft };
}
