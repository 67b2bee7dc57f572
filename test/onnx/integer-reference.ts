import type { GraphProto, ModelProto, NodeProto } from 'onnx-buf';
import { floatAttribute, intAttribute, intsAttribute } from '../../src/formats/onnx/attributes.js';
import { readTensor } from '../../src/formats/onnx/tensor.js';
import { roundHalfEven } from '../../src/core/round.js';

/**
 * A reference evaluator of the ONNX ops quantized models are made of, exact per the ONNX spec:
 * integer ops (MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv) accumulate in exact
 * integers, QuantizeLinear/DynamicQuantizeLinear divide and round half to even in float32. Tests
 * compare onnxruntime with it, so they hold on every CPU whose kernels are exact, and fail where a
 * kernel saturates. Float ops (MatMul, Conv, Gemm) sum in float64 and round once: within float32
 * rounding of onnxruntime's own order.
 *
 * `accumulate` swaps the integer dot product: `avx2PairSaturated` is what onnxruntime's uint8 x
 * int8 kernels compute on x86 CPUs without VNNI (vpmaddubsw: adjacent products summed into a
 * saturating int16), to show what a model would give there.
 */

const f32 = Math.fround;

export interface RefTensor {
  readonly dims: number[];
  /** Values as numbers: floats already rounded to float32, integers exact. */
  readonly data: Float64Array;
  readonly type: 'float32' | 'int8' | 'uint8' | 'int32' | 'int64' | 'bool';
}

/** One output of a dot product of raw codes a·b over K (before zero-point corrections), the pairs (0,1), (2,3), ... */
export type Accumulate = (a: ArrayLike<number>, aOff: number, aStride: number, b: ArrayLike<number>, bOff: number, bStride: number, k: number) => number;

/** Σ a_k b_k, exact. */
export const exactDot: Accumulate = (a, ao, as, b, bo, bs, k) => {
  let s = 0;
  for (let i = 0; i < k; i++) s += a[ao + i * as]! * b[bo + i * bs]!;
  return s;
};

const sat16 = (v: number) => Math.max(-32768, Math.min(32767, v));

/** vpmaddubsw then vpmaddwd: each adjacent pair a_k b_k + a_{k+1} b_{k+1} saturated to int16, then summed in int32. */
export const avx2PairSaturated: Accumulate = (a, ao, as, b, bo, bs, k) => {
  let s = 0;
  for (let i = 0; i < k; i += 2) {
    const p = a[ao + i * as]! * b[bo + i * bs]! + (i + 1 < k ? a[ao + (i + 1) * as]! * b[bo + (i + 1) * bs]! : 0);
    s += sat16(p);
  }
  return s;
};

/**
 * The largest |a_k b_k + a_{k+1} b_{k+1}| over every output of A [M, K] x B [K, N] (raw codes):
 * at most 32767 means a pairwise int16 kernel gives the exact sums.
 */
export function maxPairSum(a: ArrayLike<number>, m: number, k: number, b: ArrayLike<number>, n: number): number {
  let worst = 0;
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      for (let i = 0; i < k; i += 2) {
        const p = a[r * k + i]! * b[i * n + c]! + (i + 1 < k ? a[r * k + i + 1]! * b[(i + 1) * n + c]! : 0);
        worst = Math.max(worst, Math.abs(p));
      }
    }
  }
  return worst;
}

function tensor(type: RefTensor['type'], dims: number[], data: ArrayLike<number>): RefTensor {
  return { type, dims, data: Float64Array.from(data) };
}

function size(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/** Numpy broadcasting of two shapes. */
function broadcast(a: RefTensor, b: RefTensor, f: (x: number, y: number) => number, type: RefTensor['type'] = a.type): RefTensor {
  const rank = Math.max(a.dims.length, b.dims.length);
  const ad = [...new Array<number>(rank - a.dims.length).fill(1), ...a.dims];
  const bd = [...new Array<number>(rank - b.dims.length).fill(1), ...b.dims];
  const dims = ad.map((d, i) => Math.max(d, bd[i]!));
  const out = new Float64Array(size(dims));
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let ai = 0;
    let bi = 0;
    for (let r = 0; r < rank; r++) {
      ai = ai * ad[r]! + (ad[r] === 1 ? 0 : idx[r]!);
      bi = bi * bd[r]! + (bd[r] === 1 ? 0 : idx[r]!);
    }
    out[o] = f(a.data[ai]!, b.data[bi]!);
    for (let r = rank - 1; r >= 0; r--) {
      if (++idx[r]! < dims[r]!) break;
      idx[r] = 0;
    }
  }
  return { type, dims, data: out };
}

const RANGES = { int8: [-128, 127], uint8: [0, 255], int32: [-2147483648, 2147483647] } as const;

/** A per-tensor or per-axis parameter: its value for flat index i of a tensor of `dims`. */
function paramAt(p: RefTensor, dims: readonly number[], axis: number, i: number): number {
  if (p.data.length === 1) return p.data[0]!;
  const a = axis < 0 ? axis + dims.length : axis;
  const inner = size(dims.slice(a + 1));
  return p.data[Math.floor(i / inner) % dims[a]!]!;
}

/** QuantizeLinear: saturate(roundHalfEven(x / scale) + zeroPoint), the division in float32. */
export function quantizeLinear(x: RefTensor, scale: RefTensor, zp: RefTensor | undefined, axis = 1): RefTensor {
  const type = (zp?.type ?? 'uint8') as 'int8' | 'uint8';
  const [lo, hi] = RANGES[type];
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = roundHalfEven(f32(x.data[i]! / paramAt(scale, x.dims, axis, i))) + (zp ? paramAt(zp, x.dims, axis, i) : 0);
    out[i] = Math.max(lo, Math.min(hi, v));
  }
  return { type, dims: x.dims, data: out };
}

/** DequantizeLinear: (q − zeroPoint) · scale in float32. */
export function dequantizeLinear(q: RefTensor, scale: RefTensor, zp: RefTensor | undefined, axis = 1): RefTensor {
  const out = new Float64Array(q.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f32((q.data[i]! - (zp ? paramAt(zp, q.dims, axis, i) : 0)) * paramAt(scale, q.dims, axis, i));
  return { type: 'float32', dims: q.dims, data: out };
}

/** DynamicQuantizeLinear per the ONNX spec: uint8 over [min(0, x), max(0, x)], in float32. */
export function dynamicQuantizeLinear(x: RefTensor): [RefTensor, RefTensor, RefTensor] {
  let lo = 0;
  let hi = 0;
  for (const v of x.data) (lo = Math.min(lo, v), (hi = Math.max(hi, v)));
  const scale = f32(f32(hi - lo) / 255);
  const zp = roundHalfEven(Math.max(0, Math.min(255, f32(0 - f32(lo / scale)))));
  const s = tensor('float32', [], [scale]);
  const z = tensor('uint8', [], [zp]);
  return [quantizeLinear(x, s, z), s, z];
}

/** [.., M, K] x [K, N] (the second operand 2-D, as weights are), accumulated by `acc` on raw codes, zero points applied exactly. */
function matmulCodes(a: RefTensor, b: RefTensor, aZp: RefTensor | undefined, bZp: RefTensor | undefined, acc: Accumulate): RefTensor {
  const k = a.dims.at(-1)!;
  const [kb, n] = b.dims as [number, number];
  if (k !== kb || b.dims.length !== 2) throw new Error(`matmul shapes ${a.dims} x ${b.dims}`);
  const m = a.data.length / k;
  const za = aZp ? aZp.data[0]! : 0;
  const out = new Float64Array(m * n);
  for (let r = 0; r < m; r++) {
    let rowSum = 0;
    for (let i = 0; i < k; i++) rowSum += a.data[r * k + i]!;
    for (let c = 0; c < n; c++) {
      const zb = bZp ? (bZp.data.length === 1 ? bZp.data[0]! : bZp.data[c]!) : 0;
      let colSum = 0;
      for (let i = 0; i < k; i++) colSum += b.data[i * n + c]!;
      // Raw products by the kernel's accumulator, zero points as MLAS applies them (row and column sums), exact.
      out[r * n + c] = acc(a.data, r * k, 1, b.data, c, n, k) - zb * rowSum - za * colSum + k * za * zb;
    }
  }
  return { type: 'int32', dims: [...a.dims.slice(0, -1), n], data: out };
}

interface ConvAttrs {
  readonly group: number;
  readonly strides: number[];
  readonly pads: number[];
  readonly dilations: number[];
}

function convAttrs(node: NodeProto, kDims: readonly number[]): ConvAttrs {
  const nd = kDims.length;
  const autoPad = node.attribute.find((a) => a.name === 'auto_pad');
  if (autoPad && new TextDecoder().decode(autoPad.s) !== 'NOTSET') throw new Error('reference Conv: auto_pad is not supported');
  return {
    group: intAttribute(node, 'group', 1),
    strides: intsAttribute(node, 'strides') ?? new Array<number>(nd).fill(1),
    pads: intsAttribute(node, 'pads') ?? new Array<number>(2 * nd).fill(0),
    dilations: intsAttribute(node, 'dilations') ?? new Array<number>(nd).fill(1),
  };
}

/**
 * 2-D convolution NCHW of values `x` with `w` [M, C/group, kh, kw]: `dot` gives each output from
 * the gathered input patch (padding supplies `pad`) and the filter, both in (c, kh, kw) order.
 */
function conv2d(x: RefTensor, w: RefTensor, at: ConvAttrs, pad: number, dot: (patch: Float64Array, filter: Float64Array, m: number) => number): RefTensor {
  const [nb, c, h, wd] = x.dims as [number, number, number, number];
  const [m, cg, kh, kw] = w.dims as [number, number, number, number];
  const [sh, sw] = at.strides as [number, number];
  const [dh, dw] = at.dilations as [number, number];
  const [pt, pl, pb, pr] = at.pads as [number, number, number, number];
  const oh = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wd + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const out = new Float64Array(nb * m * oh * ow);
  const mg = m / at.group;
  const patch = new Float64Array(cg * kh * kw);
  for (let b = 0; b < nb; b++) {
    for (let o = 0; o < m; o++) {
      const g = Math.floor(o / mg);
      const filter = w.data.subarray(o * cg * kh * kw, (o + 1) * cg * kh * kw);
      for (let y = 0; y < oh; y++) {
        for (let xx = 0; xx < ow; xx++) {
          let p = 0;
          for (let ci = 0; ci < cg; ci++) {
            for (let i = 0; i < kh; i++) {
              for (let j = 0; j < kw; j++) {
                const iy = y * sh - pt + i * dh;
                const ix = xx * sw - pl + j * dw;
                patch[p++] = iy < 0 || iy >= h || ix < 0 || ix >= wd ? pad : x.data[((b * c + g * cg + ci) * h + iy) * wd + ix]!;
              }
            }
          }
          out[((b * m + o) * oh + y) * ow + xx] = dot(patch, filter, o);
        }
      }
    }
  }
  return { type: x.type, dims: [nb, m, oh, ow], data: out };
}

function convInteger(x: RefTensor, w: RefTensor, xZp: RefTensor | undefined, wZp: RefTensor | undefined, at: ConvAttrs, acc: Accumulate): RefTensor {
  const za = xZp ? xZp.data[0]! : 0;
  // Padding is the input's zero point: it stands for real 0.
  const r = conv2d(x, w, at, za, (patch, filter, m) => {
    const zb = wZp ? (wZp.data.length === 1 ? wZp.data[0]! : wZp.data[m]!) : 0;
    let ps = 0;
    let fs = 0;
    for (let i = 0; i < patch.length; i++) (ps += patch[i]!, (fs += filter[i]!));
    return acc(patch, 0, 1, filter, 0, 1, patch.length) - zb * ps - za * fs + patch.length * za * zb;
  });
  return { ...r, type: 'int32' };
}

function floatConv(x: RefTensor, w: RefTensor, b: RefTensor | undefined, at: ConvAttrs): RefTensor {
  const r = conv2d(x, w, at, 0, (patch, filter, m) => f32(exactDot(patch, 0, 1, filter, 0, 1, patch.length) + (b ? b.data[m]! : 0)));
  return { ...r, type: 'float32' };
}

/** Requantizes int32 accumulators: saturate(roundHalfEven(acc · (x_scale · w_scale / y_scale)) + y_zp), as the QLinear ops define. */
function requantize(acc: RefTensor, xScale: number, wScale: RefTensor, yScale: number, yZp: RefTensor, channel: (i: number) => number): RefTensor {
  const type = yZp.type as 'int8' | 'uint8';
  const [lo, hi] = RANGES[type];
  const out = new Float64Array(acc.data.length);
  for (let i = 0; i < out.length; i++) {
    const ws = wScale.data.length === 1 ? wScale.data[0]! : wScale.data[channel(i)]!;
    out[i] = Math.max(lo, Math.min(hi, roundHalfEven(f32(acc.data[i]! * f32(f32(xScale * ws) / yScale))) + yZp.data[0]!));
  }
  return { type, dims: acc.dims, data: out };
}

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
