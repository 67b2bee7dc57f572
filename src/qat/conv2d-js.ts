import * as tf from '@tensorflow/tfjs';

/** The geometry of an NHWC convolution: TensorFlow's padding rules, via tfjs's own computeConv2DInfo. */
export interface Geometry {
  n: number; h: number; w: number; cin: number; oh: number; ow: number; cout: number;
  kh: number; kw: number; sh: number; sw: number; dh: number; dw: number; top: number; left: number;
}

export function geometry(xShape: number[], wShape: number[], strides: [number, number], padding: 'same' | 'valid', dilation: [number, number]): Geometry {
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], wShape as [number, number, number, number], strides, dilation, padding);
  return {
    n: info.batchSize, h: info.inHeight, w: info.inWidth, cin: info.inChannels, oh: info.outHeight, ow: info.outWidth, cout: info.outChannels,
    kh: info.filterHeight, kw: info.filterWidth, sh: info.strideHeight, sw: info.strideWidth, dh: info.dilationHeight, dw: info.dilationWidth,
    top: info.padInfo.top, left: info.padInfo.left,
  };
}

/**
 * y[b, oy, ox, co] = Σ x[b, iy, ix, ci] · w[ky, kx, ci, co]: each output pixel's channels summed in
 * a float64 accumulator over its taps in row-major order, then stored as float32. The loops are
 * written out (no per-tap callback): V8 does not inline a callback shared by three call sites.
 */
export function conv2dForward(x: Float32Array, w: Float32Array, g: Geometry): Float32Array {
  const { n, h, w: width, cin, oh, ow, cout, kh, kw, sh, sw, dh, dw, top, left } = g;
  const y = new Float32Array(n * oh * ow * cout);
  const acc = new Float64Array(cout);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        acc.fill(0);
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh + ky * dh - top;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw + kx * dw - left;
            if (ix < 0 || ix >= width) continue;
            const xo = ((b * h + iy) * width + ix) * cin;
            let wr = (ky * kw + kx) * cin * cout;
            for (let ci = 0; ci < cin; ci++, wr += cout) {
              const a = x[xo + ci]!;
              if (a === 0) continue;
              for (let co = 0; co < cout; co++) acc[co] += a * w[wr + co]!;
            }
          }
        }
        y.set(acc, ((b * oh + oy) * ow + ox) * cout);
      }
  return y;
}

/**
 * conv2d (NHWC input, [kh, kw, in, out] filter) as plain loops over typed arrays, forward and
 * backward: tfjs's CPU backend computes a conv2d's filter and input gradients some hundred times
 * slower than these loops, which makes quantization-aware training of even a small CNN take hours.
 * Same result as tf.conv2d up to the order of the float32 sums.
 */
export function conv2dJs(x: tf.Tensor4D, w: tf.Tensor4D, strides: [number, number], padding: 'same' | 'valid', dilation: [number, number]): tf.Tensor4D {
  const f = tf.customGrad(((xi: tf.Tensor, wi: tf.Tensor, save: tf.GradSaveFunc) => {
    const g = geometry(xi.shape, wi.shape, strides, padding, dilation);
    const y = conv2dForward(xi.dataSync() as Float32Array, wi.dataSync() as Float32Array, g);
    save([xi, wi]);
    return {
      value: tf.tensor4d(y, [g.n, g.oh, g.ow, g.cout]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor, tf.Tensor];
        const dyv = dy.dataSync() as Float32Array;
        const dx = inputGrad(ws.dataSync() as Float32Array, dyv, g);
        const dw = filterGrad(xs.dataSync() as Float32Array, dyv, g);
        return [tf.tensor(dx, xs.shape), tf.tensor(dw, ws.shape)];
      },
    };
  }) as never) as (x: tf.Tensor, w: tf.Tensor) => tf.Tensor4D;
  return f(x, w);
}

type KernelArgs = { inputs: Record<string, tf.TensorInfo>; backend: tf.KernelBackend & { readSync(id: unknown): Float32Array; makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo }; attrs: Record<string, unknown> };

/** ∂L/∂w of conv2dForward, summed in float64 over the batch and output pixels in row-major order. */
export function filterGrad(x: Float32Array, dy: Float32Array, g: Geometry): Float32Array {
  const { n, h, w: width, cin, oh, ow, cout, kh, kw, sh, sw, dh, dw, top, left } = g;
  const acc = new Float64Array(kh * kw * cin * cout);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        const yo = ((b * oh + oy) * ow + ox) * cout;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh + ky * dh - top;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw + kx * dw - left;
            if (ix < 0 || ix >= width) continue;
            const xo = ((b * h + iy) * width + ix) * cin;
            let wr = (ky * kw + kx) * cin * cout;
            for (let ci = 0; ci < cin; ci++, wr += cout) {
              const a = x[xo + ci]!;
              if (a === 0) continue;
              for (let co = 0; co < cout; co++) acc[wr + co] += a * dy[yo + co]!;
            }
          }
        }
      }
  return Float32Array.from(acc);
}

/** ∂L/∂x of conv2dForward, each input pixel's sum in float64. */
export function inputGrad(w: Float32Array, dy: Float32Array, g: Geometry): Float32Array {
  const { n, h, w: width, cin, oh, ow, cout, kh, kw, sh, sw, dh, dw, top, left } = g;
  const acc = new Float64Array(n * h * width * cin);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        const yo = ((b * oh + oy) * ow + ox) * cout;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh + ky * dh - top;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw + kx * dw - left;
            if (ix < 0 || ix >= width) continue;
            const xo = ((b * h + iy) * width + ix) * cin;
            let wr = (ky * kw + kx) * cin * cout;
            for (let ci = 0; ci < cin; ci++, wr += cout) {
              let s = 0;
              for (let co = 0; co < cout; co++) s += w[wr + co]! * dy[yo + co]!;
              acc[xo + ci] += s;
            }
          }
        }
      }
  return Float32Array.from(acc);
}

/**
 * Replaces the CPU backend's Conv2DBackpropFilter and Conv2DBackpropInput kernels with the loops
 * of conv2dJs (NHWC, 'same'/'valid' padding; anything else still goes to the original kernels),
 * so training a plain tfjs CNN on the CPU backend, before prepareQat, takes minutes, not hours.
 * Global to the process's tfjs; returns a function that restores the original kernels.
 */
export function registerFastConv2dGradients(): () => void {
  const names = ['Conv2DBackpropFilter', 'Conv2DBackpropInput'] as const;
  const originals = names.map((n) => tf.getKernel(n, 'cpu'));
  const replace = (name: string, fast: (a: KernelArgs) => tf.TensorInfo | null, original: tf.KernelConfig | undefined) => {
    if (original) tf.unregisterKernel(name, 'cpu');
    tf.registerKernel({
      kernelName: name,
      backendName: 'cpu',
      kernelFunc: ((args: KernelArgs) => fast(args) ?? (original!.kernelFunc as (a: KernelArgs) => tf.TensorInfo)(args)) as never,
    });
  };
  const simple = (a: KernelArgs) => (a.attrs.pad === 'same' || a.attrs.pad === 'valid') && (a.attrs.dataFormat ?? 'NHWC') === 'NHWC';
  replace('Conv2DBackpropFilter', (a) => {
    if (!simple(a)) return null;
    const { x, dy } = a.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const g = geometry(x.shape, a.attrs.filterShape as number[], a.attrs.strides as [number, number], a.attrs.pad as 'same', [1, 1]);
    return a.backend.makeTensorInfo(a.attrs.filterShape as number[], 'float32', filterGrad(a.backend.readSync(x.dataId) as Float32Array, a.backend.readSync(dy.dataId) as Float32Array, g));
  }, originals[0]);
  replace('Conv2DBackpropInput', (a) => {
    if (!simple(a)) return null;
    const { dy, filter } = a.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const shape = a.attrs.inputShape as number[];
    const g = geometry(shape, filter.shape, a.attrs.strides as [number, number], a.attrs.pad as 'same', [1, 1]);
    return a.backend.makeTensorInfo(shape, 'float32', inputGrad(a.backend.readSync(filter.dataId) as Float32Array, a.backend.readSync(dy.dataId) as Float32Array, g));
  }, originals[1]);
  return () => {
    names.forEach((n, i) => {
      tf.unregisterKernel(n, 'cpu');
      const o = originals[i];
      if (o) tf.registerKernel(o);
    });
  };
}
