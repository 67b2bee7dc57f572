import * as tf from '@tensorflow/tfjs';
import { lsqBackward, lsqFakeQuantize } from '../core/lsq.js';
import type { QParams } from '../core/qparams.js';
import { fakeQuantizeBackward, fakeQuantizeWithGrad } from '../core/ste.js';

/**
 * The core's quantize/dequantize as TensorFlow.js ops with gradients:
 *
 *   q = roundHalfEven(x / scale) + zeroPoint,   x̂ = (clamp(q, qmin, qmax) − zeroPoint) · scale
 *
 * computed by the core's own loops on the tensors' values (one pass forward, one backward), so x̂
 * equals the core's fakeQuantize bit for bit. Built from tfjs element-wise ops instead, the same
 * formula took a dozen passes over each activation and most of a QAT training step on the CPU
 * backend. scale and zeroPoint are [] / [1] (per tensor) or [C] (per channel along the last axis,
 * TensorFlow.js's channel axis for activations and for Dense/Conv2D kernels). A NaN input throws
 * the core's NAN_INPUT (a diverged step), where float ops would carry it on silently.
 */
function affineParams(x: tf.Tensor, scale: tf.Tensor, zeroPoint: tf.Tensor, qmin: number, qmax: number): QParams {
  const perChannel = scale.size > 1;
  return {
    // The loops read qmin/qmax, the layout and the parameters; the dtype name is not consulted.
    dtype: 'int32' as QParams['dtype'],
    symmetric: false,
    narrow: false,
    qmin,
    qmax,
    granularity: perChannel ? { kind: 'per-axis', axis: x.rank - 1 } : { kind: 'per-tensor' },
    paramShape: perChannel ? [scale.size] : [],
    scale: Float32Array.from(scale.dataSync()),
    zeroPoint: Int32Array.from(zeroPoint.dataSync()),
  };
}

/**
 * Fake quantization with the straight-through estimator (the core's fakeQuantizeWithGrad /
 * fakeQuantizeBackward): ∂x̂/∂x = 1 where the unclamped code lies in [qmin, qmax], else 0.
 * scale and zeroPoint are constants here (observer-chosen parameters).
 */
export function fakeQuantizeSte(x: tf.Tensor, scale: tf.Tensor, zeroPoint: tf.Tensor, qmin: number, qmax: number): tf.Tensor {
  const params = affineParams(x, scale, zeroPoint, qmin, qmax);
  const f = tf.customGrad(((input: tf.Tensor) => {
    const { values, mask } = fakeQuantizeWithGrad(input.dataSync() as Float32Array, input.shape, params);
    return {
      value: tf.tensor(values, input.shape, 'float32'),
      gradFunc: (dy: tf.Tensor) => tf.tensor(fakeQuantizeBackward(dy.dataSync() as Float32Array, mask), dy.shape, 'float32'),
    };
  }) as never) as (x: tf.Tensor) => tf.Tensor;
  return f(x);
}

/**
 * LSQ fake quantization (the core's lsqFakeQuantize / lsqBackward; Esser et al. 2020, PyTorch's
 * _LearnableFakeQuantize): the zero point is used rounded and clamped, and
 *
 *   ∂x̂/∂x = 1 inside, 0 outside
 *   ∂x̂/∂s = (x̂ − x) / s inside,  qmin − z below,  qmax − z above
 *   ∂x̂/∂z = 0 inside,  −s outside
 *
 * with the scale and zero-point gradients summed per parameter and multiplied by gradFactor
 * (the LSQ paper's 1/√(N · Q_P); TensorQuantizer counts N and Q_P).
 */
export function fakeQuantizeLsq(x: tf.Tensor, scale: tf.Tensor, zeroPoint: tf.Tensor, qmin: number, qmax: number, gradFactor: number): tf.Tensor {
  const f = tf.customGrad(((input: tf.Tensor, s: tf.Tensor, zp: tf.Tensor) => {
    const xv = Float32Array.from(input.dataSync() as Float32Array);
    const lsq = {
      scale: Float32Array.from(s.dataSync()),
      zeroPoint: Float32Array.from(zp.dataSync()),
      qmin,
      qmax,
      axis: s.size > 1 ? input.rank - 1 : undefined,
    };
    return {
      value: tf.tensor(lsqFakeQuantize(xv, input.shape, lsq), input.shape, 'float32'),
      gradFunc: (dy: tf.Tensor) => {
        const g = lsqBackward(dy.dataSync() as Float32Array, xv, input.shape, lsq, { gradFactor });
        return [tf.tensor(g.dX, input.shape, 'float32'), tf.tensor(g.dScale, s.shape, 'float32'), tf.tensor(g.dZeroPoint, zp.shape, 'float32')];
      },
    };
  }) as never) as (x: tf.Tensor, s: tf.Tensor, z: tf.Tensor) => tf.Tensor;
  return f(x, scale, zeroPoint);
}
