import type * as tf from '@tensorflow/tfjs';
import type { QParams } from '../core/qparams.js';
import type { QuantizerParametersFile } from '../engine/parameter-export.js';
import { encodeQuantizerParameters } from '../engine/parameter-export.js';
import type { CalibratedEntry } from '../engine/quantizer-types.js';
import { qatLayers } from './prepare-qat.js';
import type { TensorQuantizer } from './tensor-quantizer.js';

/**
 * A prepared model's quantization parameters in the engine's versioned parameters JSON
 * (decodeQuantizerParameters reads it back): for each quantized tensor, named "<layer>.weight"
 * and "<layer>.activation" ("input.activation" for the model input), `calibrated` holds the
 * moving-average observer's range and the parameters chosen from it, and `last` the parameters
 * the model uses (the learned ones with LSQ). Weight parameters are laid out for the layer's
 * channels-last kernel view, activations per tensor.
 */
export function exportQuantizerParameters(model: tf.LayersModel): QuantizerParametersFile {
  const { input, layers } = qatLayers(model);
  const calibrated = new Map<string, CalibratedEntry>();
  const last = new Map<string, QParams>();
  const add = (q: TensorQuantizer, shape: readonly number[]) => {
    if (!q.observed) return;
    const { min, max } = q.range();
    const params = q.observer.qparams({ dtype: q.scheme.dtype, symmetric: q.scheme.symmetric });
    const observedShape = q.scheme.perChannel ? shape : [1];
    calibrated.set(q.name, { params: { ...params, granularity: q.params(observedShape).granularity, paramShape: q.params(observedShape).paramShape }, min, max, shape: observedShape, method: 'moving-average' });
    last.set(q.name, q.params(observedShape));
  };
  add(input.activationQuantizer, [1]);
  for (const l of layers) {
    const k = l.spec.kernel.shape;
    add(l.weightQuantizer, l.spec.kind === 'depthwise' ? [k[0] as number, k[1] as number, l.channels] : k);
    add(l.activationQuantizer, [1]);
  }
  return encodeQuantizerParameters(calibrated, last);
}
