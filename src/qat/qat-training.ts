import * as tf from '@tensorflow/tfjs';
import type { QatConfig } from './qat-config.js';
import { qatLayers } from './prepare-qat.js';

/**
 * Runs `x` through a prepared model in inference mode with every observer folding in what it sees
 * (weights and activations; BatchNorm on its running statistics): post-training calibration of
 * the fake-quantized model, and a starting range for quantization-aware training.
 */
export function calibrateQat(model: tf.LayersModel, x: tf.Tensor, batchSize = 256): void {
  const { input, layers } = qatLayers(model);
  const all = [input, ...layers];
  for (const l of all) l.calibrating = true;
  try {
    for (let start = 0; start < x.shape[0]; start += batchSize) {
      const size = Math.min(batchSize, x.shape[0] - start);
      tf.tidy(() => {
        model.predict(tf.slice(x, start, size));
      });
    }
  } finally {
    for (const l of all) l.calibrating = false;
  }
}

/**
 * An optimizer for a prepared model: the model's own weights go to `base`, the LSQ scales and zero
 * points to plain SGD at the config's scaleLr and zeroPointLr (their own parameter groups, as
 * PyTorch trains _LearnableFakeQuantize's parameters). Without LSQ it is `base` itself.
 */
export function qatOptimizer(model: tf.LayersModel, base: tf.Optimizer): tf.Optimizer {
  const { input, layers } = qatLayers(model);
  const config: QatConfig = input.config;
  if (config.learnable !== 'lsq') return base;
  const scaleNames = new Set<string>();
  const zeroPointNames = new Set<string>();
  for (const q of [input.activationQuantizer, ...layers.flatMap((l) => [l.weightQuantizer, l.activationQuantizer])]) {
    const v = q.lsqVariables;
    if (!v) continue;
    scaleNames.add((v.scale.read() as tf.Variable).name);
    zeroPointNames.add((v.zeroPoint.read() as tf.Variable).name);
  }
  return new QatOptimizer(base, tf.train.sgd(config.scaleLr), tf.train.sgd(config.zeroPointLr), scaleNames, zeroPointNames);
}

type NamedTensor = { name: string; tensor: tf.Tensor };

class QatOptimizer extends tf.Optimizer {
  static readonly className = 'QuantkitQatOptimizer';

  constructor(
    private readonly base: tf.Optimizer,
    private readonly scales: tf.Optimizer,
    private readonly zeroPoints: tf.Optimizer,
    private readonly scaleNames: ReadonlySet<string>,
    private readonly zeroPointNames: ReadonlySet<string>,
  ) {
    super();
  }

  applyGradients(grads: tf.NamedTensorMap | NamedTensor[]): void {
    const list: NamedTensor[] = Array.isArray(grads) ? grads : Object.keys(grads).map((name) => ({ name, tensor: grads[name] as tf.Tensor }));
    const groups: [tf.Optimizer, NamedTensor[]][] = [
      [this.scales, list.filter((g) => this.scaleNames.has(g.name))],
      [this.zeroPoints, list.filter((g) => this.zeroPointNames.has(g.name))],
      [this.base, list.filter((g) => !this.scaleNames.has(g.name) && !this.zeroPointNames.has(g.name))],
    ];
    for (const [opt, group] of groups) if (group.length) opt.applyGradients(group);
  }

  getConfig(): tf.serialization.ConfigDict {
    return {};
  }

  override dispose(): void {
    this.base.dispose();
    this.scales.dispose();
    this.zeroPoints.dispose();
  }
}

/** Stops every observer of a prepared model now (the parameters stay, or with LSQ learn on). */
export function freezeObservers(model: tf.LayersModel): void {
  const { input, layers } = qatLayers(model);
  for (const q of [input.activationQuantizer, ...layers.flatMap((l) => [l.weightQuantizer, l.activationQuantizer])]) q.observing = false;
}
