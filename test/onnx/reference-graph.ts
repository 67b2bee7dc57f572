import type { GraphProto, ModelProto, NodeProto } from 'onnx-buf';
import { floatAttribute, intAttribute } from '../../src/formats/onnx/attributes.js';
import { readTensor } from '../../src/formats/onnx/tensor.js';
import type { Accumulate, RefTensor } from './integer-reference.js';
import {
  broadcast,
  convAttrs,
  convInteger,
  dequantizeLinear,
  dynamicQuantizeLinear,
  exactDot,
  f32,
  floatConv,
  matmulCodes,
  quantizeLinear,
  requantize,
  size,
  tensor,
} from './integer-reference.js';

// Runs a whole quantized graph on the reference kernels of integer-reference.ts, node by node in
// the graph's order, so tests can hold onnxruntime to the ONNX spec's result of the same graph.

/** A tensor of `dims` whose element at index idx is x's at source(idx). */
function gather(x: RefTensor, dims: number[], source: (idx: number[]) => number[]): RefTensor {
  const out = new Float64Array(size(dims));
  const idx = dims.map(() => 0);
  for (let o = 0; o < out.length; o++) {
    const src = source(idx);
    let flat = 0;
    for (let r = 0; r < dims.length; r++) flat = flat * x.dims[r]! + src[r]!;
    out[o] = x.data[flat]!;
    for (let r = dims.length - 1; r >= 0; r--) {
      if (++idx[r]! < dims[r]!) break;
      idx[r] = 0;
    }
  }
  return { type: x.type, dims, data: out };
}

function toRef(t: { dims: readonly number[]; dtype: string; values: ArrayLike<number | bigint> }): RefTensor {
  const data = Float64Array.from(Array.from(t.values as ArrayLike<number | bigint>, Number));
  const type = (t.dtype === 'float32' ? 'float32' : t.dtype) as RefTensor['type'];
  return { type, dims: [...t.dims], data };
}

export interface ReferenceOptions {
  /** The integer dot product (default exact); avx2PairSaturated emulates x86 CPUs without VNNI for uint8 x int8. */
  readonly accumulate?: Accumulate;
}

/**
 * Evaluates `model` on `feeds` (float32 inputs, or RefTensors) by the ONNX spec and returns every
 * graph output. Supports the ops quantkit's integer models use and the float ops of the test
 * models: DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv,
 * QuantizeLinear, DequantizeLinear (ai.onnx and com.microsoft), Cast, Mul, Add, Relu, Clip,
 * MatMul, Gemm, Conv (2-D), Reshape, Slice, Resize (nearest, as Upsample), Constant, If. The uint8 x int8 integer ops use
 * `accumulate`; uint8 x uint8 are always exact (onnxruntime widens them to 16 bits on x86).
 */
export function evaluateReference(model: ModelProto, feeds: Record<string, { dims: number[]; data: Float32Array } | RefTensor>, options: ReferenceOptions = {}): Record<string, RefTensor> {
  const env = new Map<string, RefTensor>();
  for (const [k, v] of Object.entries(feeds)) env.set(k, 'type' in v ? v : tensor('float32', v.dims, v.data));
  const g = model.graph!;
  runGraph(g, env, options.accumulate ?? exactDot);
  return Object.fromEntries(g.output.map((o) => [o.name, env.get(o.name)!]));
}

function runGraph(g: GraphProto, env: Map<string, RefTensor>, acc: Accumulate): void {
  for (const t of g.initializer) env.set(t.name, toRef(readTensor(t)));
  for (const node of g.node) {
    const get = (i: number) => {
      const name = node.input[i];
      if (!name) return undefined;
      const v = env.get(name);
      if (!v) throw new Error(`reference: no value for '${name}' (input ${i} of ${node.opType} '${node.name}')`);
      return v;
    };
    const outs = evalNode(node, get, env, acc);
    outs.forEach((o, i) => node.output[i] && env.set(node.output[i]!, o));
  }
}

/** uint8 x uint8 is exact on every CPU (16-bit lanes into int32), whatever `acc` emulates. */
function accFor(a: RefTensor, b: RefTensor, acc: Accumulate): Accumulate {
  return a.type === 'uint8' && b.type === 'int8' ? acc : exactDot;
}

function evalNode(node: NodeProto, get: (i: number) => RefTensor | undefined, env: Map<string, RefTensor>, acc: Accumulate): RefTensor[] {
  const axis = intAttribute(node, 'axis', 1);
  switch (node.opType) {
    case 'DynamicQuantizeLinear':
      return dynamicQuantizeLinear(get(0)!);
    case 'QuantizeLinear':
      return [quantizeLinear(get(0)!, get(1)!, get(2), axis)];
    case 'DequantizeLinear':
      return [dequantizeLinear(get(0)!, get(1)!, get(2), axis)];
    case 'MatMulInteger': {
      const [a, b] = [get(0)!, get(1)!];
      return [matmulCodes(a, b, get(2), get(3), accFor(a, b, acc))];
    }
    case 'ConvInteger': {
      const [x, w] = [get(0)!, get(1)!];
      return [convInteger(x, w, get(2), get(3), convAttrs(node, w.dims.slice(2)), accFor(x, w, acc))];
    }
    case 'QLinearMatMul': {
      const [a, as, az, b, bs, bz, ys, yz] = [0, 1, 2, 3, 4, 5, 6, 7].map(get) as RefTensor[];
      const r = matmulCodes(a!, b!, az, bz, accFor(a!, b!, acc));
      const n = b!.dims[1]!;
      return [requantize(r, as!.data[0]!, bs!, ys!.data[0]!, yz!, (i) => i % n)];
    }
    case 'QLinearConv': {
      const [x, xs, xz, w, ws, wz, ys, yz] = [0, 1, 2, 3, 4, 5, 6, 7].map(get) as RefTensor[];
      const r = convInteger(x!, w!, xz, wz, convAttrs(node, w!.dims.slice(2)), accFor(x!, w!, acc));
      const bias = get(8);
      if (bias) {
        const per = r.dims[2]! * r.dims[3]!;
        for (let i = 0; i < r.data.length; i++) r.data[i] = r.data[i]! + bias.data[Math.floor(i / per) % r.dims[1]!]!;
      }
      const per = r.dims[2]! * r.dims[3]!;
      return [requantize(r, xs!.data[0]!, ws!, ys!.data[0]!, yz!, (i) => Math.floor(i / per) % r.dims[1]!)];
    }
    case 'Cast': {
      const x = get(0)!;
      if (intAttribute(node, 'to', 0) !== 1) throw new Error('reference Cast: only to float');
      return [{ type: 'float32', dims: x.dims, data: x.data.map(f32) }];
    }
    case 'Mul':
      return [broadcast(get(0)!, get(1)!, (a, b) => f32(a * b), 'float32')];
    case 'Add':
      return [broadcast(get(0)!, get(1)!, (a, b) => f32(a + b), 'float32')];
    case 'Relu': {
      const x = get(0)!;
      return [{ ...x, data: x.data.map((v) => Math.max(v, 0)) }];
    }
    case 'Clip': {
      const x = get(0)!;
      const lo = get(1)?.data[0] ?? -Infinity;
      const hi = get(2)?.data[0] ?? Infinity;
      return [{ ...x, data: x.data.map((v) => Math.min(hi, Math.max(lo, v))) }];
    }
    case 'Constant': {
      const t = node.attribute.find((a) => a.name === 'value')?.t;
      if (!t) throw new Error('reference Constant: only value');
      return [toRef(readTensor(t))];
    }
    case 'Reshape': {
      const x = get(0)!;
      const shape = Array.from(get(1)!.data);
      const known = shape.reduce((a, d, i) => (d === -1 ? a : a * (d === 0 ? x.dims[i]! : d)), 1);
      const dims = shape.map((d, i) => (d === -1 ? x.data.length / known : d === 0 ? x.dims[i]! : d));
      return [{ ...x, dims }];
    }
    case 'MatMul': {
      const [a, b] = [get(0)!, get(1)!];
      const r = matmulCodes(a, b, undefined, undefined, exactDot);
      return [{ type: 'float32', dims: r.dims, data: r.data.map(f32) }];
    }
    case 'Gemm': {
      let [a, b] = [get(0)!, get(1)!];
      if (intAttribute(node, 'transA', 0)) throw new Error('reference Gemm: transA');
      if (intAttribute(node, 'transB', 0)) {
        const [n, k] = b.dims as [number, number];
        const t = new Float64Array(b.data.length);
        for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) t[j * n + i] = b.data[i * k + j]!;
        b = { ...b, dims: [k, n], data: t };
      }
      const r = matmulCodes(a, b, undefined, undefined, exactDot);
      const alpha = floatAttribute(node, 'alpha', 1);
      const beta = floatAttribute(node, 'beta', 1);
      const y: RefTensor = { type: 'float32', dims: r.dims, data: r.data.map((v) => alpha * v) };
      const c = get(2);
      return [c ? broadcast(y, c, (p, q) => f32(p + beta * q), 'float32') : { ...y, data: y.data.map(f32) }];
    }
    case 'Conv': {
      const [x, w] = [get(0)!, get(1)!];
      return [floatConv(x, w, get(2), convAttrs(node, w.dims.slice(2)))];
    }
    case 'Slice': {
      // Opset 10+: starts, ends, axes inputs; steps 1.
      const x = get(0)!;
      const starts = Array.from(get(1)!.data);
      const ends = Array.from(get(2)!.data);
      const axes = get(3) ? Array.from(get(3)!.data) : starts.map((_, i) => i);
      if (get(4) && get(4)!.data.some((v) => v !== 1)) throw new Error('reference Slice: steps other than 1');
      const lo = x.dims.map(() => 0);
      const hi = [...x.dims];
      axes.forEach((a, i) => {
        const ax = a < 0 ? a + x.dims.length : a;
        const clampIdx = (v: number) => Math.max(0, Math.min(x.dims[ax]!, v < 0 ? v + x.dims[ax]! : v));
        lo[ax] = clampIdx(starts[i]!);
        hi[ax] = clampIdx(ends[i]!);
      });
      return [gather(x, hi.map((h, i) => h - lo[i]!), (idx) => idx.map((v, i) => v + lo[i]!))];
    }
    case 'Resize': {
      // Nearest, asymmetric coordinates, floor, enlarging scales: what the opset upgrade writes for Upsample.
      const x = get(0)!;
      const scales = Array.from(get(2)!.data);
      const attr = (n: string) => {
        const a = node.attribute.find((t) => t.name === n);
        return a ? new TextDecoder().decode(a.s) : undefined;
      };
      if (attr('mode') !== 'nearest' || attr('coordinate_transformation_mode') !== 'asymmetric' || attr('nearest_mode') !== 'floor') throw new Error('reference Resize: nearest/asymmetric/floor only');
      const dims = x.dims.map((d, i) => Math.floor(d * scales[i]!));
      return [gather(x, dims, (idx) => idx.map((v, i) => Math.min(x.dims[i]! - 1, Math.floor(v / scales[i]!))))];
    }
    case 'If': {
      const cond = get(0)!.data[0] !== 0;
      const branch = node.attribute.find((a) => a.name === (cond ? 'then_branch' : 'else_branch'))!.g!;
      const inner = new Map(env);
      runGraph(branch, inner, acc);
      return branch.output.map((o) => inner.get(o.name)!);
    }
    default:
      throw new Error(`reference: op ${node.domain ? `${node.domain}.` : ''}${node.opType} is not supported`);
  }
}

/** The float32 data of a reference output. */
export function refFloat(t: RefTensor): Float32Array {
  return Float32Array.from(t.data);
}

/**
 * Runs the quantized model in onnxruntime and in the reference on the same feeds; returns both
 * outputs and the largest difference relative to the reference's largest magnitude. Where the
 * CPU's integer kernels are exact this is float32 rounding (the float ops' summation order), about
 * 1e-7; a saturating kernel gives tenths.
 */
export async function ortAndReference(
  model: ModelProto,
  feeds: Record<string, { dims: number[]; data: Float32Array }>,
  run: (m: ModelProto, f: Record<string, { dims: number[]; data: Float32Array }>) => Promise<Record<string, Float32Array>>,
): Promise<{ ort: Record<string, Float32Array>; ref: Record<string, Float32Array>; relError: number }> {
  const ort = await run(model, feeds);
  const ref = Object.fromEntries(Object.entries(evaluateReference(model, feeds)).map(([k, v]) => [k, refFloat(v)]));
  let relError = 0;
  for (const [k, r] of Object.entries(ref)) {
    let diff = 0;
    let mag = 0;
    for (let i = 0; i < r.length; i++) (diff = Math.max(diff, Math.abs(ort[k]![i]! - r[i]!)), (mag = Math.max(mag, Math.abs(r[i]!))));
    relError = Math.max(relError, diff / Math.max(mag, 1e-30));
  }
  return { ort, ref, relError };
}

/** Float32 rounding between onnxruntime's float ops and the reference's, relative to the output's magnitude. */
export const ROUNDING = 1e-5;
