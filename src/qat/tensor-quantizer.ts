import * as tf from '@tensorflow/tfjs';
import { getQuantDtype } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import { lsqGradFactor } from '../core/lsq.js';
import { MovingAverageObserver } from '../core/observers/moving-average-observer.js';
import type { QParams } from '../core/qparams.js';
import { blockLayout } from '../core/layout.js';
import { FLOAT32_EPS, roundHalfEven } from '../core/round.js';
import type { TensorScheme } from './qat-config.js';
import { fakeQuantizeLsq, fakeQuantizeSte } from './fake-quantize-tf.js';

/** The learnable parameters of an LSQ quantizer: layer weights, trained with their own learning rates. */
export interface LsqVariables {
  readonly scale: tf.LayerVariable;
  readonly zeroPoint: tf.LayerVariable;
}

/**
 * One fake-quantized tensor's state, as PyTorch's FakeQuantize / _LearnableFakeQuantize: the
 * engine's moving-average observer (per tensor, or per channel along the last axis), the
 * parameters it chose (the core's chooseQParams), and for LSQ the trained scale and zero point,
 * which the observer initialises for as long as it observes.
 */
export class TensorQuantizer {
  readonly observer: MovingAverageObserver;
  readonly qmin: number;
  readonly qmax: number;
  private current: QParams | null = null;
  private lsq: LsqVariables | null = null;
  /** Σ|x| and counts per parameter over every observed value, for the 'mean-abs' LSQ start. */
  private absSum: Float64Array | null = null;
  private absCount = 0;
  /** false once the observer is frozen: the parameters stay (or, with LSQ, learn). */
  observing = true;

  constructor(
    readonly name: string,
    readonly scheme: TensorScheme,
    averagingConstant: number,
    /** How the LSQ scale starts (QatConfig.lsqInit). */
    readonly lsqInit: 'observer' | 'mean-abs' = 'observer',
    /** What the tensor is: an activation's first axis is the batch, which LSQ's gradient scale does not count. */
    readonly role: 'weight' | 'activation' = 'weight',
  ) {
    this.observer = new MovingAverageObserver({ axis: scheme.perChannel ? -1 : undefined, averagingConstant });
    const d = getQuantDtype(scheme.dtype);
    this.qmin = d.qmin;
    this.qmax = d.qmax;
  }

  /** Number of parameters: channels (per channel) or 1. */
  paramCount(channels: number): number {
    return this.scheme.perChannel ? channels : 1;
  }

  /** Makes this an LSQ quantizer whose scale and zero point are these variables. */
  attachLsq(vars: LsqVariables): void {
    this.lsq = vars;
  }

  get learnable(): boolean {
    return this.lsq !== null;
  }

  get lsqVariables(): LsqVariables | null {
    return this.lsq;
  }

  /** Folds x into the observer and takes its parameters (copied into the LSQ variables, if any). */
  observe(x: tf.Tensor): void {
    if (!this.observing) return;
    this.observer.update(x.dataSync() as Float32Array, x.shape);
    this.current = this.observer.qparams({ dtype: this.scheme.dtype, symmetric: this.scheme.symmetric });
    if (this.lsq) {
      const shape = this.lsq.scale.shape as number[];
      const scale = this.lsqInit === 'mean-abs' ? this.meanAbsScale(x.dataSync() as Float32Array, this.current.scale, this.current.zeroPoint) : this.current.scale;
      this.lsq.scale.write(tf.tensor(scale, shape, 'float32'));
      this.lsq.zeroPoint.write(tf.tensor(Float32Array.from(this.current.zeroPoint), shape, 'float32'));
    }
  }

  /**
   * The LSQ paper's starting step size, s = 2·mean|x| / √Q_P (Esser et al., section 2.1), from
   * every value observed so far, per parameter (per channel along the last axis, or per tensor).
   * Q_P, the positive levels, counts the codes above the observer's zero point (qmax − z: 7 for
   * symmetric int4 weights, 15 for int4 activations after a ReLU, whose zero point is qmin). A
   * parameter with no positive level or no nonzero value keeps the observer's scale.
   */
  private meanAbsScale(x: Float32Array, observerScale: Float32Array, zeroPoint: Int32Array): Float32Array {
    const n = observerScale.length;
    if (!this.absSum || this.absSum.length !== n) this.absSum = new Float64Array(n);
    for (let i = 0; i < x.length; i++) this.absSum[n === 1 ? 0 : i % n] += Math.abs(x[i]!);
    this.absCount += x.length / n;
    const out = new Float32Array(n);
    for (let c = 0; c < n; c++) {
      const levels = this.qmax - zeroPoint[c]!;
      const mean = this.absSum[c]! / this.absCount;
      out[c] = levels > 0 && mean > 0 ? (2 * mean) / Math.sqrt(levels) : observerScale[c]!;
    }
    return out;
  }

  get observed(): boolean {
    return this.current !== null;
  }

  /** x̂ for the current parameters: STE with the observer's, or LSQ with the learned ones. */
  apply(x: tf.Tensor): tf.Tensor {
    if (!this.current) {
      throw new QuantError('NOT_CALIBRATED', `quantizer '${this.name}' has no parameters yet: train or calibrate the model before evaluating it`);
    }
    if (this.lsq) {
      // As PyTorch's _LearnableFakeQuantize: a step may take a scale to or below 0; floor it at float32 eps.
      const s = this.lsq.scale.read();
      if (tf.min(s).dataSync()[0]! < FLOAT32_EPS) this.lsq.scale.write(tf.tidy(() => tf.maximum(s, FLOAT32_EPS)));
      const factor = lsqGradFactor(this.lsqElements(x.shape), this.lsqPositiveLevels());
      return fakeQuantizeLsq(x, this.lsq.scale.read(), this.lsq.zeroPoint.read(), this.qmin, this.qmax, factor);
    }
    const shape = this.current.scale.length === 1 ? [] : [this.current.scale.length];
    return tf.tidy(() => fakeQuantizeSte(x, tf.tensor(this.current!.scale, shape, 'float32'), tf.tensor(Float32Array.from(this.current!.zeroPoint), shape, 'float32'), this.qmin, this.qmax));
  }

  /**
   * LSQ's N (Esser et al., section 2.2): the values one scale covers, N_W for weights (a weight
   * tensor's elements; per channel, one channel's) and N_F for activations (the features of ONE
   * example: the loss already averages over the batch, so counting the batch too, as PyTorch's
   * _LearnableFakeQuantize does with numel, shrinks the activation scales' steps by √batch).
   */
  lsqElements(shape: readonly number[]): number {
    let n = 1;
    for (const d of shape) n *= d;
    if (this.role === 'activation' && shape.length > 1) n /= shape[0]!;
    return n / (this.scheme.perChannel ? shape[shape.length - 1]! : 1);
  }

  /**
   * LSQ's Q_P, the positive levels: qmax for a symmetric scheme (7 at int4, the paper's signed
   * 2^(b−1) − 1), every step of the code range for an asymmetric one (15 at int4: an activation
   * after a ReLU sits at the zero point qmin, the paper's unsigned 2^b − 1).
   */
  lsqPositiveLevels(): number {
    return this.scheme.symmetric ? this.qmax : this.qmax - this.qmin;
  }

  /**
   * The parameters in use, as the core's QParams laid out for a tensor of `shape` (per channel
   * along its last axis): the observer's, or the LSQ variables' with the zero point rounded and
   * clamped as the forward uses it.
   */
  params(shape: readonly number[]): QParams {
    if (!this.current) throw new QuantError('NOT_CALIBRATED', `quantizer '${this.name}' has no parameters yet: train or calibrate the model first`);
    const base = this.current;
    const granularity = this.scheme.perChannel ? ({ kind: 'per-axis', axis: shape.length - 1 } as const) : ({ kind: 'per-tensor' } as const);
    const paramShape = blockLayout(shape, granularity).paramShape;
    if (!this.lsq) return { ...base, granularity, paramShape };
    const scale = Float32Array.from(this.lsq.scale.read().dataSync());
    const zeroPoint = Int32Array.from(this.lsq.zeroPoint.read().dataSync(), (z) => Math.min(this.qmax, Math.max(this.qmin, roundHalfEven(z))));
    return { ...base, granularity, paramShape, scale, zeroPoint };
  }

  /** The observer's running range (what the parameters were chosen from). */
  range(): { min: Float32Array; max: Float32Array } {
    return this.observer.range({ dtype: this.scheme.dtype, symmetric: this.scheme.symmetric });
  }
}
