import * as tf from '@tensorflow/tfjs';
import { QuantError } from '../core/errors.js';
import type { QatConfig, QatConfigInput } from './qat-config.js';
import { parseQatConfig } from './qat-config.js';
import type { BatchNormSpec, FusedActivation, QatKind } from './qat-layer.js';
import { QatInputLayer, QatLayer } from './qat-layer.js';

const KINDS: Readonly<Record<string, QatKind>> = { Dense: 'dense', Conv2D: 'conv2d', DepthwiseConv2D: 'depthwise' };

/** Layers that move quantized values without changing them, so they need no quantizer of their own. */
const PASS_THROUGH: Readonly<Record<string, (config: tf.serialization.ConfigDict) => tf.layers.Layer>> = {
  MaxPooling2D: (c) => tf.layers.maxPooling2d(c as never),
  Flatten: (c) => tf.layers.flatten(c as never),
  Dropout: (c) => tf.layers.dropout(c as never),
};

function pair(v: unknown): [number, number] {
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0], a[1] ?? a[0]];
}

function activationOf(name: unknown, layer: string): FusedActivation {
  if (name === undefined || name === null || name === 'linear') return 'linear';
  if (name === 'relu' || name === 'relu6') return name;
  throw new QuantError('UNSUPPORTED', `layer '${layer}': activation '${String(name)}' cannot be fused (expected linear, relu or relu6)`);
}

/** A standalone ReLU/ReLU6 that can be fused into the layer before it, or null. */
function standaloneActivation(layer: tf.layers.Layer | undefined): FusedActivation | null {
  if (!layer) return null;
  const cls = layer.getClassName();
  const c = layer.getConfig();
  if (cls === 'Activation' && (c.activation === 'relu' || c.activation === 'relu6')) return c.activation;
  if (cls === 'ReLU' && (c.maxValue === null || c.maxValue === undefined)) return 'relu';
  if (cls === 'ReLU' && c.maxValue === 6) return 'relu6';
  return null;
}

function batchNormSpec(layer: tf.layers.Layer, channels: number): BatchNormSpec {
  const c = layer.getConfig();
  if (c.axis !== -1 && c.axis !== 3 && c.axis !== 1) throw new QuantError('UNSUPPORTED', `BatchNormalization '${layer.name}': expected the channel axis last`);
  const ws = layer.getWeights().map((w) => tf.clone(w));
  let k = 0;
  const gamma = c.scale === false ? tf.ones([channels]) : ws[k++];
  const beta = c.center === false ? tf.zeros([channels]) : ws[k++];
  return {
    gamma: gamma as tf.Tensor1D,
    beta: beta as tf.Tensor1D,
    movingMean: ws[k++] as tf.Tensor1D,
    movingVariance: ws[k++] as tf.Tensor1D,
    epsilon: Number(c.epsilon ?? 1e-3),
    momentum: Number(c.momentum ?? 0.99),
  };
}

/** The layers of a linear stack, in order (functional models must be a chain too). */
function chain(model: tf.LayersModel): tf.layers.Layer[] {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new QuantError('UNSUPPORTED', 'prepareQat takes a model with one input and one output');
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  for (let i = 1; i < layers.length; i++) {
    const inbound = layers[i].inboundNodes[0]?.inboundLayers ?? [];
    if (inbound.length !== 1 || inbound[0] !== layers[i - 1]) {
      throw new QuantError('UNSUPPORTED', `layer '${layers[i].name}' does not take the previous layer's output: prepareQat takes a linear stack of layers`);
    }
  }
  return layers;
}

/**
 * prepare_qat for TensorFlow.js: a new model (the input model is left as it was) in which the
 * model input and every Dense, Conv2D and DepthwiseConv2D output are fake-quantized and their
 * weights too, with a following BatchNormalization folded in and a following ReLU/ReLU6 fused
 * (see QatLayer). MaxPooling2D, Flatten and Dropout are kept; any other layer is UNSUPPORTED.
 * Train the result as usual (model.fit; with learnable: 'lsq' compile it with qatOptimizer),
 * then convertQat it. Example:
 *
 *   const qat = prepareQat(model, { quantizationType: 'INT4', customQuantizationConfig: { head: { quantizationType: 'INT8' } } });
 */
export function prepareQat(model: tf.LayersModel, configInput: QatConfigInput | QatConfig = {}): tf.Sequential {
  const config = 'engine' in configInput ? (configInput as QatConfig) : parseQatConfig(configInput);
  const layers = chain(model);
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const out = tf.sequential({ name: `${model.name}_qat` });
  out.add(tf.layers.inputLayer({ inputShape }));
  const inputLayer = new QatInputLayer(config);
  out.add(inputLayer);
  let previous = inputLayer.activationQuantizer;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    const cls = layer.getClassName();
    const kind = KINDS[cls];
    if (!kind) {
      const make = PASS_THROUGH[cls];
      if (!make) throw new QuantError('UNSUPPORTED', `layer '${layer.name}' is a ${cls}: prepareQat supports Dense, Conv2D, DepthwiseConv2D, BatchNormalization after them, ReLU/ReLU6, ${Object.keys(PASS_THROUGH).join(', ')}`);
      const c = { ...layer.getConfig() };
      delete c.batchInputShape;
      out.add(make(c));
      continue;
    }
    const c = layer.getConfig();
    let activation: FusedActivation = activationOf(c.activation, layer.name);
    const weights = layer.getWeights().map((w) => tf.clone(w));
    const kernel = weights[0];
    const bias = c.useBias === false ? null : (weights[1] as tf.Tensor1D);
    const ks = kernel.shape as number[];
    const channels = kind === 'depthwise' ? (ks[2] as number) * (ks[3] as number) : (ks[ks.length - 1] as number);
    if (kind !== 'dense' && c.dataFormat === 'channelsFirst') throw new QuantError('UNSUPPORTED', `layer '${layer.name}': expected channelsLast data`);
    let batchNorm: BatchNormSpec | null = null;
    if (layers[i + 1]?.getClassName() === 'BatchNormalization') {
      if (activation !== 'linear') throw new QuantError('UNSUPPORTED', `layer '${layer.name}': its activation comes before the BatchNormalization, which cannot then be folded`);
      batchNorm = batchNormSpec(layers[++i], channels);
    }
    const fused = standaloneActivation(layers[i + 1]);
    if (fused && activation === 'linear') {
      activation = fused;
      i++;
    }
    const qatLayer = new QatLayer({
        name: layer.name,
        kind,
        kernel,
        bias,
        strides: pair(c.strides ?? 1),
        padding: (c.padding ?? 'valid') as 'same' | 'valid',
        dilation: pair(c.dilationRate ?? 1),
        batchNorm,
        activation,
        config,
      });
    qatLayer.inputQuantizer = previous;
    previous = qatLayer.activationQuantizer;
    out.add(qatLayer);
  }
  return out;
}

/** The fake-quantizing layers of a prepared model, in order (the input quantizer first). */
export function qatLayers(model: tf.LayersModel): { input: QatInputLayer; layers: QatLayer[] } {
  const input = model.layers.find((l): l is QatInputLayer => l instanceof QatInputLayer);
  if (!input) throw new QuantError('INVALID_ARGUMENT', 'expected a model prepared by prepareQat');
  return { input, layers: model.layers.filter((l): l is QatLayer => l instanceof QatLayer) };
}
