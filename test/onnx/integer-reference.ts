import type { NodeProto } from 'onnx-buf';
import { intAttribute, intsAttribute } from '../../src/formats/onnx/attributes.js';
import { roundHalfEven } from '../../src/core/round.js';

/**
 * Reference kernels of the ONNX ops quantized models are made of, exact per the ONNX spec
 * (evaluateReference in reference-graph.ts runs a whole graph with them):
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

export const f32 = Math.fround;

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

export function tensor(type: RefTensor['type'], dims: number[], data: ArrayLike<number>): RefTensor {
  return { type, dims, data: Float64Array.from(data) };
}

export function size(dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1);
}

/** Numpy broadcasting of two shapes. */
export function broadcast(a: RefTensor, b: RefTensor, f: (x: number, y: number) => number, type: RefTensor['type'] = a.type): RefTensor {
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
export function matmulCodes(a: RefTensor, b: RefTensor, aZp: RefTensor | undefined, bZp: RefTensor | undefined, acc: Accumulate): RefTensor {
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

export interface ConvAttrs {
  readonly group: number;
  readonly strides: number[];
  readonly pads: number[];
  readonly dilations: number[];
}

export function convAttrs(node: NodeProto, kDims: readonly number[]): ConvAttrs {
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

export function convInteger(x: RefTensor, w: RefTensor, xZp: RefTensor | undefined, wZp: RefTensor | undefined, at: ConvAttrs, acc: Accumulate): RefTensor {
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

export function floatConv(x: RefTensor, w: RefTensor, b: RefTensor | undefined, at: ConvAttrs): RefTensor {
  const r = conv2d(x, w, at, 0, (patch, filter, m) => f32(exactDot(patch, 0, 1, filter, 0, 1, patch.length) + (b ? b.data[m]! : 0)));
  return { ...r, type: 'float32' };
}

/** Requantizes int32 accumulators: saturate(roundHalfEven(acc · (x_scale · w_scale / y_scale)) + y_zp), as the QLinear ops define. */
export function requantize(acc: RefTensor, xScale: number, wScale: RefTensor, yScale: number, yZp: RefTensor, channel: (i: number) => number): RefTensor {
  const type = yZp.type as 'int8' | 'uint8';
  const [lo, hi] = RANGES[type];
  const out = new Float64Array(acc.data.length);
  for (let i = 0; i < out.length; i++) {
    const ws = wScale.data.length === 1 ? wScale.data[0]! : wScale.data[channel(i)]!;
    out[i] = Math.max(lo, Math.min(hi, roundHalfEven(f32(acc.data[i]! * f32(f32(xScale * ws) / yScale))) + yZp.data[0]!));
  }
  return { type, dims: acc.dims, data: out };
}
