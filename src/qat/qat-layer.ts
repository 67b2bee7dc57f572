import * as tf from '@tensorflow/tfjs';
import type { QatConfig } from './qat-config.js';
import { activationScheme, weightScheme } from './qat-config.js';
import { TensorQuantizer } from './tensor-quantizer.js';
import { conv2dJs } from './conv2d-js.js';
import { fakeQuantizeSte } from './fake-quantize-tf.js';

/** The layers prepareQat fake-quantizes. */
export type QatKind = 'dense' | 'conv2d' | 'depthwise';
/** The activations fused into a layer (as PyTorch's ConvReLU / LinearReLU modules). */
export type FusedActivation = 'linear' | 'relu' | 'relu6';

/** BatchNormalization folded into the preceding conv or dense layer. */
export interface BatchNormSpec {
  readonly gamma: tf.Tensor1D;
  readonly beta: tf.Tensor1D;
  readonly movingMean: tf.Tensor1D;
  readonly movingVariance: tf.Tensor1D;
  readonly epsilon: number;
  readonly momentum: number;
}

/** What a fused QAT layer is built from (the float layer's weights are copied in). */
export interface QatLayerSpec {
  readonly name: string;
  readonly kind: QatKind;
  readonly kernel: tf.Tensor;
  readonly bias: tf.Tensor1D | null;
  readonly strides: [number, number];
  readonly padding: 'same' | 'valid';
  readonly dilation: [number, number];
  readonly batchNorm: BatchNormSpec | null;
  readonly activation: FusedActivation;
  readonly config: QatConfig;
}

/** Steps counted by a layer's training calls, and what they switch. */
function active(limit: number | null, step: number): boolean {
  return limit === null || step <= limit;
}

/**
 * Dense, Conv2D or DepthwiseConv2D with fake-quantized weights (per output channel by default),
 * an optional BatchNormalization folded in as PyTorch's fused ConvBn QAT modules do, a fused
 * ReLU/ReLU6 and a fake-quantized output:
 *
 *   sf = γ / √(runningVar + ε),  ŵ = fq_w(w · sf),  c = op(x, ŵ)
 *   training (BatchNorm not frozen):  y = BN_batch(c / sf + b)  (batch statistics; running ones updated)
 *   otherwise:                         y = c + β + (b − runningMean) · sf   (running statistics folded)
 *   out = fq_a(act(y))
 *
 * Weights are viewed channels-last ([in, out], [kh, kw, in, out], and [kh, kw, in · mult] for a
 * depthwise kernel), so per-channel parameters lie along the last axis.
 */
export class QatLayer extends tf.layers.Layer {
  static readonly className = 'QuantkitQatLayer';
  readonly spec: QatLayerSpec;
  readonly weightQuantizer: TensorQuantizer;
  readonly activationQuantizer: TensorQuantizer;
  /** Training calls so far (one per batch). */
  step = 0;
  /** Observe (weights and outputs) in inference calls too: calibration. */
  calibrating = false;
  /** The quantizer of this layer's input (the model input's or the previous layer's output), set by prepareQat. */
  inputQuantizer: TensorQuantizer | null = null;
  private kernel!: tf.LayerVariable;
  private biasVar: tf.LayerVariable | null = null;
  private gamma: tf.LayerVariable | null = null;
  private beta: tf.LayerVariable | null = null;
  private movingMean: tf.LayerVariable | null = null;
  private movingVariance: tf.LayerVariable | null = null;

  constructor(spec: QatLayerSpec) {
    super({ name: spec.name });
    this.spec = spec;
    this.weightQuantizer = new TensorQuantizer(`${spec.name}.weight`, weightScheme(spec.config, spec.name), spec.config.averagingConstant, spec.config.lsqInit);
    this.activationQuantizer = new TensorQuantizer(`${spec.name}.activation`, activationScheme(spec.config, spec.name), spec.config.averagingConstant, spec.config.lsqInit, 'activation');
  }

  /** Output channels. */
  get channels(): number {
    const s = this.spec.kernel.shape;
    return this.spec.kind === 'depthwise' ? (s[2] as number) * (s[3] as number) : (s[s.length - 1] as number);
  }

  private weight(name: string, value: tf.Tensor, trainable: boolean): tf.LayerVariable {
    const v = this.addWeight(name, value.shape, 'float32', tf.initializers.zeros(), undefined, trainable);
    v.write(value);
    return v;
  }

  override build(): void {
    const { spec } = this;
    this.kernel = this.weight('kernel', spec.kernel, true);
    if (spec.bias) this.biasVar = this.weight('bias', spec.bias, true);
    if (spec.batchNorm) {
      this.gamma = this.weight('gamma', spec.batchNorm.gamma, true);
      this.beta = this.weight('beta', spec.batchNorm.beta, true);
      this.movingMean = this.weight('moving_mean', spec.batchNorm.movingMean, false);
      this.movingVariance = this.weight('moving_variance', spec.batchNorm.movingVariance, false);
    }
    if (spec.config.learnable === 'lsq') {
      for (const q of [this.weightQuantizer, this.activationQuantizer]) {
        const role = q === this.weightQuantizer ? 'weight' : 'activation';
        const shape = [q.paramCount(this.channels)];
        q.attachLsq({
          scale: this.weight(`${role}_scale`, tf.ones(shape), true),
          // A symmetric scheme's zero point is fixed by the dtype: only an asymmetric one learns.
          zeroPoint: this.weight(`${role}_zero_point`, tf.zeros(shape), !q.scheme.symmetric),
        });
      }
    }
    this.built = true;
  }

  /** The kernel channels-last (see the class comment). */
  private kernelView(): tf.Tensor {
    const k = this.kernel.read();
    return this.spec.kind === 'depthwise' ? tf.reshape(k, [k.shape[0] as number, k.shape[1] as number, this.channels]) : k;
  }

  private scaleFactor(): tf.Tensor | null {
    const bn = this.spec.batchNorm;
    if (!bn) return null;
    return tf.div(this.gamma!.read(), tf.sqrt(tf.add(this.movingVariance!.read(), bn.epsilon)));
  }

  private op(x: tf.Tensor, view: tf.Tensor): tf.Tensor {
    const { kind, strides, padding, dilation } = this.spec;
    if (kind === 'dense') return tf.matMul(x as tf.Tensor2D, view as tf.Tensor2D);
    if (kind === 'conv2d') return conv2dJs(x as tf.Tensor4D, view as tf.Tensor4D, strides, padding, dilation);
    return tf.depthwiseConv2d(x as tf.Tensor4D, tf.reshape(view, this.kernel.shape as number[]) as unknown as tf.Tensor4D, strides, padding, 'NHWC', dilation);
  }

  private activate(y: tf.Tensor): tf.Tensor {
    if (this.spec.activation === 'relu') return tf.relu(y);
    if (this.spec.activation === 'relu6') return tf.relu6(y);
    return y;
  }

  /**
   * The float weight view and bias that inference uses (running BatchNorm statistics folded in),
   * before weight fake quantization: what convertQat quantizes.
   */
  foldedWeights(): { weight: tf.Tensor; bias: tf.Tensor1D | null } {
    const weight = tf.tidy(() => {
      const sf = this.scaleFactor();
      return sf ? tf.mul(this.kernelView(), sf) : tf.clone(this.kernelView());
    });
    const bias = tf.tidy(() => {
      const sf = this.scaleFactor();
      if (sf) return this.foldedBias(sf);
      return this.biasVar ? tf.clone(this.biasVar.read()) : tf.zeros([0]);
    });
    if (bias.size === 0 && this.channels > 0) {
      bias.dispose();
      return { weight, bias: null };
    }
    return { weight, bias: bias as tf.Tensor1D };
  }

  /**
   * The bias as the integer model adds it: quantized to int32 codes at scale sx · sw[c] (input
   * scale times weight scale, in float32), as ONNX Runtime's QLinearConv and QDQ bias take it.
   * PyTorch leaves the bias in float during QAT; quantizing it here too keeps the fake-quantized
   * model's outputs those of the converted one (a bias rounding is often a tenth of an output step).
   */
  biasScale(): Float32Array {
    const sx = this.inputQuantizer!.params([1]).scale[0]!;
    const sw = this.weightQuantizer.params(this.weightViewShape()).scale;
    const out = new Float32Array(this.channels);
    for (let c = 0; c < out.length; c++) out[c] = Math.fround(sx * sw[sw.length === 1 ? 0 : c]!);
    return out;
  }

  private quantizeBias(b: tf.Tensor): tf.Tensor {
    if (!this.inputQuantizer) return b;
    return fakeQuantizeSte(b, tf.tensor1d(this.biasScale()), tf.zeros([this.channels]), -(2 ** 31), 2 ** 31 - 1);
  }

  /** The shape of the channels-last kernel view. */
  weightViewShape(): number[] {
    const k = this.spec.kernel.shape as number[];
    return this.spec.kind === 'depthwise' ? [k[0]!, k[1]!, this.channels] : k;
  }

  private foldedBias(sf: tf.Tensor): tf.Tensor {
    const b = this.biasVar ? this.biasVar.read() : tf.zeros([this.channels]);
    return tf.add(this.beta!.read(), tf.mul(tf.sub(b, this.movingMean!.read()), sf));
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const training = kwargs['training'] === true;
    if (training) this.step++;
    const { config, batchNorm } = this.spec;
    const observe = this.calibrating || (training && active(config.freezeObserversAfter, this.step));
    const batchStats = training && batchNorm !== null && active(config.freezeBatchNormAfter, this.step);
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const view = this.kernelView();
      const sf = this.scaleFactor();
      const scaled = sf ? tf.mul(view, sf) : view;
      if (observe) this.weightQuantizer.observe(scaled);
      const c = this.op(x, this.weightQuantizer.apply(scaled));
      let y: tf.Tensor;
      if (sf && batchNorm) {
        if (batchStats) {
          const orig = this.biasVar ? tf.add(tf.div(c, sf), this.biasVar.read()) : tf.div(c, sf);
          const axes = orig.shape.slice(0, -1).map((_, i) => i);
          const { mean, variance } = tf.moments(orig, axes);
          y = tf.batchNorm(orig, mean, variance, this.beta!.read(), this.gamma!.read(), batchNorm.epsilon);
          const decay = 1 - batchNorm.momentum;
          const mm = this.movingMean!.read();
          const mv = this.movingVariance!.read();
          this.movingMean!.write(tf.sub(mm, tf.mul(tf.sub(mm, mean), decay)));
          this.movingVariance!.write(tf.sub(mv, tf.mul(tf.sub(mv, variance), decay)));
        } else {
          y = tf.add(c, this.quantizeBias(this.foldedBias(sf)));
        }
      } else {
        y = this.biasVar ? tf.add(c, this.quantizeBias(this.biasVar.read())) : c;
      }
      y = this.activate(y);
      if (observe) this.activationQuantizer.observe(y);
      return this.activationQuantizer.apply(y);
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    if (this.spec.kind === 'dense') return [...s.slice(0, -1), this.channels];
    const k = this.kernel ? this.kernel.shape : this.spec.kernel.shape;
    const info = tf.backend_util.computeConv2DInfo(
      [1, s[1] ?? 1, s[2] ?? 1, s[3] ?? 1] as [number, number, number, number],
      k as [number, number, number, number],
      this.spec.strides,
      this.spec.dilation,
      this.spec.padding,
      undefined,
      this.spec.kind === 'depthwise',
    );
    return [s[0], info.outHeight, info.outWidth, this.channels];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), kind: this.spec.kind, activation: this.spec.activation, strides: this.spec.strides, padding: this.spec.padding };
  }
}

/**
 * Fake-quantizes the model's input (PyTorch's QuantStub): an activation quantizer named 'input'
 * whose parameters the first quantized op reads its input with.
 */
export class QatInputLayer extends tf.layers.Layer {
  static readonly className = 'QuantkitQatInput';
  readonly activationQuantizer: TensorQuantizer;
  step = 0;
  calibrating = false;

  constructor(readonly config: QatConfig) {
    super({ name: 'input_quant' });
    this.activationQuantizer = new TensorQuantizer('input.activation', activationScheme(config, 'input'), config.averagingConstant, config.lsqInit, 'activation');
  }

  override build(): void {
    if (this.config.learnable === 'lsq') {
      const q = this.activationQuantizer;
      const s = this.addWeight('activation_scale', [1], 'float32', tf.initializers.ones(), undefined, true);
      const z = this.addWeight('activation_zero_point', [1], 'float32', tf.initializers.zeros(), undefined, !q.scheme.symmetric);
      q.attachLsq({ scale: s, zeroPoint: z });
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const training = kwargs['training'] === true;
    if (training) this.step++;
    const observe = this.calibrating || (training && active(this.config.freezeObserversAfter, this.step));
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (observe) this.activationQuantizer.observe(x);
      return this.activationQuantizer.apply(x);
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
  }
}
