import * as tf from '@tensorflow/tfjs';
import { registerFastConv2dGradients } from './conv2d-js.js';

type CpuBackend = tf.KernelBackend & {
  readSync(id: unknown): tf.backend_util.BackendValues;
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo;
};
type KernelArgs = { inputs: Record<string, tf.TensorInfo>; backend: CpuBackend; attrs: Record<string, unknown> };
type FastKernel = (args: KernelArgs) => tf.TensorInfo | null;

const OPS = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 } as const;

/** Row-major strides of `shape` aligned right against an output of rank `rank`, 0 along broadcast axes. */
function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const strides = new Array<number>(out.length).fill(0);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    const od = d + out.length - shape.length;
    strides[od] = shape[d] === 1 && out[od] !== 1 ? 0 : s;
    s *= shape[d]!;
  }
  return strides;
}

/** Whether `small`, broadcast to `out`, repeats its own values in order (its leading axes are 1s, the rest out's). */
function periodic(small: readonly number[], out: readonly number[]): boolean {
  const lead = out.length - small.length;
  let d = 0;
  while (d < small.length && small[d] === 1) d++;
  for (; d < small.length; d++) if (small[d] !== out[d + lead]) return false;
  return true;
}

/**
 * a (op) b with NumPy broadcasting on float32 values: each result is the double-precision result
 * of the two float32 operands stored in a Float32Array, as the CPU backend's kernels compute it,
 * but walking the broadcast with strides where the backend converts every flat index to
 * coordinates and back (its cost in a BatchNorm's gradient, where [1, 1, 1, C] meets [N, H, W, C]).
 */
export function broadcastBinary(op: number, aShape: readonly number[], bShape: readonly number[], a: Float32Array, b: Float32Array): { values: Float32Array; shape: number[] } {
  const shape = tf.backend_util.assertAndGetBroadcastShape(aShape as number[], bShape as number[]);
  const size = shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(size);
  if (size === 0) return { values: out, shape };
  // The common cases in one flat pass: equal sizes, or one operand repeating with a period (a
  // scalar, or a per-channel vector against channels-last values).
  if (a.length === size || b.length === size) {
    const big = a.length === size ? a : b;
    const small = big === a ? b : a;
    if (small.length === size || periodic(big === a ? bShape : aShape, shape)) {
      const p = small.length;
      const bigFirst = big === a;
      for (let o = 0; o < size; o += p) {
        switch (op * 2 + (bigFirst ? 0 : 1)) {
          case 0: case 1: for (let j = 0; j < p; j++) out[o + j] = big[o + j]! + small[j]!; break;
          case 2: for (let j = 0; j < p; j++) out[o + j] = big[o + j]! - small[j]!; break;
          case 3: for (let j = 0; j < p; j++) out[o + j] = small[j]! - big[o + j]!; break;
          case 4: case 5: for (let j = 0; j < p; j++) out[o + j] = big[o + j]! * small[j]!; break;
          case 6: for (let j = 0; j < p; j++) out[o + j] = big[o + j]! / small[j]!; break;
          default: for (let j = 0; j < p; j++) out[o + j] = small[j]! / big[o + j]!;
        }
      }
      return { values: out, shape };
    }
  }
  const rank = shape.length;
  const inner = rank === 0 ? 1 : shape[rank - 1]!;
  const sa = broadcastStrides(aShape, shape);
  const sb = broadcastStrides(bShape, shape);
  const ia = rank === 0 ? 0 : sa[rank - 1]!;
  const ib = rank === 0 ? 0 : sb[rank - 1]!;
  const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  let oa = 0;
  let ob = 0;
  for (let o = 0; o < size; o += inner) {
    switch (op) {
      case 0: for (let j = 0; j < inner; j++) out[o + j] = a[oa + j * ia]! + b[ob + j * ib]!; break;
      case 1: for (let j = 0; j < inner; j++) out[o + j] = a[oa + j * ia]! - b[ob + j * ib]!; break;
      case 2: for (let j = 0; j < inner; j++) out[o + j] = a[oa + j * ia]! * b[ob + j * ib]!; break;
      default: for (let j = 0; j < inner; j++) out[o + j] = a[oa + j * ia]! / b[ob + j * ib]!;
    }
    // The odometer over the outer axes: the last one that has not wrapped advances.
    for (let d = rank - 2; d >= 0; d--) {
      oa += sa[d]!;
      ob += sb[d]!;
      if (++idx[d]! < shape[d]!) break;
      oa -= sa[d]! * shape[d]!;
      ob -= sb[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return { values: out, shape };
}

/**
 * Sums float32 values over `axes` as the CPU backend's Sum does, bit for bit: each output is the
 * double-precision sum of its inputs in row-major order, stored as float32; `divisor`, if given,
 * divides each input first (rounded to float32, as Mean's division kernel stores it). The backend
 * first transposes the reduced axes innermost with a per-element index conversion, which for a
 * BatchNorm's per-channel statistics costs more than the convolution.
 */
export function reduceSum(x: Float32Array, shape: readonly number[], axes: readonly number[], divisor?: number): Float32Array {
  const rank = shape.length;
  const reduced = new Array<boolean>(rank).fill(false);
  for (const a of axes) reduced[a] = true;
  // The output's stride along each input axis (0 where reduced).
  const os = new Array<number>(rank).fill(0);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    if (reduced[d]) continue;
    os[d] = s;
    s *= shape[d]!;
  }
  const acc = new Float64Array(s);
  const size = shape.reduce((p, d) => p * d, 1);
  const inner = rank === 0 ? 1 : shape[rank - 1]!;
  const io = rank === 0 ? 0 : os[rank - 1]!;
  const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  const d32 = divisor === undefined ? 0 : Math.fround(divisor);
  let base = 0;
  for (let i = 0; i < size; i += inner) {
    if (divisor === undefined) for (let j = 0; j < inner; j++) acc[base + j * io] += x[i + j]!;
    else for (let j = 0; j < inner; j++) acc[base + j * io] += Math.fround(x[i + j]! / d32);
    for (let d = rank - 2; d >= 0; d--) {
      base += os[d]!;
      if (++idx[d]! < shape[d]!) break;
      base -= os[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return Float32Array.from(acc);
}

function reducedShape(shape: readonly number[], axes: readonly number[], keepDims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepDims) out.push(1);
  });
  return out;
}

/**
 * The gradient of a max pool (NHWC, dilation 1) as the CPU backend's MaxPoolGrad computes it: each
 * window's gradient goes to its first maximum in row-major order (none if the window has no
 * number above -Infinity), summed in double precision in window order; scattered from the windows
 * rather than gathered per input pixel through the backend's per-element buffer lookups.
 */
export function maxPoolBackprop(x: Float32Array, dy: Float32Array, info: tf.backend_util.Conv2DInfo): Float32Array {
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const acc = new Float64Array(batchSize * inHeight * inWidth * c);
  for (let b = 0; b < batchSize; b++)
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - top;
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * strideWidth - left;
        const dyo = ((b * outHeight + oy) * outWidth + ox) * c;
        for (let ch = 0; ch < c; ch++) {
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let iy = Math.max(y0, 0); iy < Math.min(inHeight, y0 + filterHeight); iy++)
            for (let ix = Math.max(x0, 0); ix < Math.min(inWidth, x0 + filterWidth); ix++) {
              const k = ((b * inHeight + iy) * inWidth + ix) * c + ch;
              const v = x[k]!;
              if (v > best) {
                best = v;
                at = k;
              }
            }
          if (at >= 0) acc[at] += dy[dyo + ch]!;
        }
      }
    }
  return Float32Array.from(acc);
}

/**
 * x repeated reps[d] times along each axis d (tf.tile), built by copying blocks: the first copy of
 * each axis is filled from x, then copied along the axis (the backend converts every output index
 * to coordinates and back, the cost of BatchNorm's input gradient).
 */
export function tileValues(x: Float32Array, shape: readonly number[], reps: readonly number[]): Float32Array {
  const rank = shape.length;
  const outShape = shape.map((d, i) => d * reps[i]!);
  const out = new Float32Array(outShape.reduce((p, d) => p * d, 1));
  if (out.length === 0) return out;
  const xStride = new Array<number>(rank).fill(1);
  const oStride = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) {
    xStride[d] = xStride[d + 1]! * shape[d + 1]!;
    oStride[d] = oStride[d + 1]! * outShape[d + 1]!;
  }
  const fill = (d: number, xo: number, oo: number): void => {
    const block = shape[d]! * oStride[d]!;
    if (d === rank - 1) out.set(x.subarray(xo, xo + shape[d]!), oo);
    else for (let i = 0; i < shape[d]!; i++) fill(d + 1, xo + i * xStride[d]!, oo + i * oStride[d]!);
    for (let r = 1; r < reps[d]!; r++) out.copyWithin(oo + r * block, oo, oo + block);
  };
  if (rank === 0) out[0] = x[0]!;
  else fill(0, 0, 0);
  return out;
}

const float32 = (...t: tf.TensorInfo[]) => t.every((v) => v.dtype === 'float32');

const FAST: Readonly<Record<string, FastKernel>> = {
  ...Object.fromEntries(
    Object.entries(OPS).map(([name, op]) => [
      name,
      ({ inputs, backend }: KernelArgs) => {
        const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        if (!float32(a, b)) return null;
        const r = broadcastBinary(op, a.shape, b.shape, backend.readSync(a.dataId) as Float32Array, backend.readSync(b.dataId) as Float32Array);
        return backend.makeTensorInfo(r.shape, 'float32', r.values);
      },
    ]),
  ),
  Sum: ({ inputs, backend, attrs }) => {
    const x = inputs['x']!;
    if (!float32(x) || x.shape.some((d) => d === 0)) return null;
    const axes = tf.util.parseAxisParam(attrs['axis'] as number | number[], x.shape);
    const values = reduceSum(backend.readSync(x.dataId) as Float32Array, x.shape, axes);
    return backend.makeTensorInfo(reducedShape(x.shape, axes, attrs['keepDims'] === true), 'float32', values);
  },
  Mean: ({ inputs, backend, attrs }) => {
    const x = inputs['x']!;
    if (!float32(x) || x.shape.some((d) => d === 0)) return null;
    const axes = tf.util.parseAxisParam(attrs['axis'] as number | number[], x.shape);
    const count = axes.reduce((p, a) => p * x.shape[a]!, 1);
    const values = reduceSum(backend.readSync(x.dataId) as Float32Array, x.shape, axes, count);
    return backend.makeTensorInfo(reducedShape(x.shape, axes, attrs['keepDims'] === true), 'float32', values);
  },
  Tile: ({ inputs, backend, attrs }) => {
    const x = inputs['x']!;
    if (!float32(x)) return null;
    const reps = attrs['reps'] as number[];
    return backend.makeTensorInfo(x.shape.map((d, i) => d * reps[i]!), 'float32', tileValues(backend.readSync(x.dataId) as Float32Array, x.shape, reps));
  },
  MaxPoolGrad: ({ inputs, backend, attrs }) => {
    const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    if (!float32(dy, input)) return null;
    const info = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      attrs['filterSize'] as [number, number],
      attrs['strides'] as [number, number],
      1,
      attrs['pad'] as 'same',
      attrs['dimRoundingMode'] as 'floor' | undefined,
    );
    return backend.makeTensorInfo(input.shape, 'float32', maxPoolBackprop(backend.readSync(input.dataId) as Float32Array, backend.readSync(dy.dataId) as Float32Array, info));
  },
};

/**
 * Puts faster equivalents behind the CPU backend's kernels that dominate training a small CNN:
 * Conv2D's gradients (registerFastConv2dGradients), Add/Sub/Multiply/RealDiv on float32 with
 * broadcasting, Sum, Mean and Tile of float32, and MaxPoolGrad. Each returns the backend's own result
 * bit for bit (the same float32 operations and double-precision sums in the same order; the
 * convolution gradients up to the order of their sums); anything else (other dtypes, empty tensors)
 * still goes to the original kernel. Global to the process's tfjs; returns a function that
 * restores the original kernels.
 */
export function registerFastTrainingKernels(): () => void {
  const restoreConv = registerFastConv2dGradients();
  const names = Object.keys(FAST);
  const originals = names.map((n) => tf.getKernel(n, 'cpu'));
  names.forEach((name, i) => {
    const original = originals[i];
    const fast = FAST[name]!;
    if (original) tf.unregisterKernel(name, 'cpu');
    tf.registerKernel({
      kernelName: name,
      backendName: 'cpu',
      kernelFunc: ((args: KernelArgs) => fast(args) ?? (original!.kernelFunc as (a: KernelArgs) => tf.TensorInfo)(args)) as never,
    });
  });
  return () => {
    names.forEach((n, i) => {
      tf.unregisterKernel(n, 'cpu');
      const o = originals[i];
      if (o) tf.registerKernel(o);
    });
    restoreConv();
  };
}
