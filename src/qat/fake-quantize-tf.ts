import * as tf from '@tensorflow/tfjs';

/**
 * The core's quantize/dequantize in TensorFlow.js float32 ops:
 *
 *   q = roundHalfEven(x / scale) + zeroPoint,   x̂ = (clamp(q, qmin, qmax) − zeroPoint) · scale
 *
 * Each step rounds to float32 where the core's does (the division, the final product; the rest is
 * exact on integers), and tf.round rounds ties to even, so x̂ equals the core's fakeQuantize of the
 * same values bit for bit. scale and zeroPoint are [] / [1] (per tensor) or [C] (per channel along
 * the last axis, TensorFlow.js's channel axis for activations and for Dense/Conv2D kernels).
 */
function forward(x: tf.Tensor, scale: tf.Tensor, zeroPoint: tf.Tensor, qmin: number, qmax: number): { q: tf.Tensor; value: tf.Tensor } {
  const q = tf.add(tf.round(tf.div(x, scale)), zeroPoint);
  const value = tf.mul(tf.sub(tf.clipByValue(q, qmin, qmax), zeroPoint), scale);
  return { q, value };
}

/**
 * Fake quantization with the straight-through estimator (the core's fakeQuantizeWithGrad /
 * fakeQuantizeBackward): ∂x̂/∂x = 1 where the unclamped code lies in [qmin, qmax], else 0.
 * scale and zeroPoint are constants here (observer-chosen parameters).
 */
export function fakeQuantizeSte(x: tf.Tensor, scale: tf.Tensor, zeroPoint: tf.Tensor, qmin: number, qmax: number): tf.Tensor {
  const f = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const { q, value } = forward(input as tf.Tensor, scale, zeroPoint, qmin, qmax);
    save([tf.cast(tf.logicalAnd(tf.greaterEqual(q, qmin), tf.lessEqual(q, qmax)), 'float32')]);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0] as tf.Tensor) };
  }) as never) as (x: tf.Tensor) => tf.Tensor;
  return f(x);
}

/** Sums an element-wise gradient down to a parameter's shape ([1]/[] per tensor, [C] along the last axis). */
function reduceToParam(g: tf.Tensor, param: tf.Tensor): tf.Tensor {
  if (param.size === 1) return tf.reshape(tf.sum(g), param.shape);
  const c = g.shape[g.rank - 1];
  return tf.reshape(tf.sum(tf.reshape(g, [-1, c]), 0), param.shape);
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
 * (the core's lsqGradFactor: 1/√(numel · qmax)).
 */
export function fakeQuantizeLsq(x: tf.Tensor, scale: tf.Tensor, zeroPoint: tf.Tensor, qmin: number, qmax: number, gradFactor: number): tf.Tensor {
  const f = tf.customGrad(((input: tf.Tensor, s: tf.Tensor, zp: tf.Tensor, save: tf.GradSaveFunc) => {
    const xi = input as tf.Tensor;
    const st = s as tf.Tensor;
    const z = tf.clipByValue(tf.round(zp as tf.Tensor), qmin, qmax);
    const { q, value } = forward(xi, st, z, qmin, qmax);
    save([xi, st, z, q, value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, sv, zv, qv, out] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const below = tf.cast(tf.less(qv, qmin), 'float32');
        const above = tf.cast(tf.greater(qv, qmax), 'float32');
        const inside = tf.sub(1, tf.add(below, above));
        const dx = tf.mul(dy, inside);
        const dScaleInside = tf.mul(tf.sub(out, xs), tf.div(1, sv));
        const dScaleElem = tf.add(tf.mul(inside, dScaleInside), tf.add(tf.mul(below, tf.sub(qmin, zv)), tf.mul(above, tf.sub(qmax, zv))));
        const dZeroElem = tf.mul(tf.add(below, above), tf.neg(sv));
        const dScale = tf.mul(reduceToParam(tf.mul(dy, dScaleElem), sv), gradFactor);
        const dZero = tf.mul(reduceToParam(tf.mul(dy, dZeroElem), sv), gradFactor);
        return [dx, dScale, dZero];
      },
    };
  }) as never) as (x: tf.Tensor, s: tf.Tensor, z: tf.Tensor) => tf.Tensor;
  return f(x, scale, zeroPoint);
}
