import type { QuantDtypeName } from '../core/dtypes.js';
import type { QuantizationType, QuantizerConfig } from './config.js';
import { NUM_BITS_RANGE, QUANTIZATION_TYPE_INFO } from './config.js';

/** What a tensor is in its model; decides quantizeBias and quantizeWeightsOnly. */
export type TensorRole = 'weight' | 'bias' | 'activation';

/** Why a layer's tensor is passed through unquantized. */
export type PassThroughReason = 'skip-layer' | 'bias-not-quantized' | 'activation-not-quantized' | 'type-none';

/** The settings one quantize call of a layer actually uses. */
export interface EffectiveLayerConfig {
  readonly layerName: string | null;
  /** Concrete: MIXED resolves to INT8 or a layer's higher precision. */
  readonly quantizationType: Exclude<QuantizationType, 'MIXED'>;
  readonly numBits: number;
  readonly symmetric: boolean;
  readonly perChannel: boolean;
  /** The integer dtype of the codes (null for FLOAT16 and NONE). */
  readonly dtype: QuantDtypeName | null;
  readonly passThrough: PassThroughReason | null;
  /** Where the type came from: the instance config, mixedPrecisionLayers, or customQuantizationConfig. */
  readonly source: 'instance' | 'mixed-precision' | 'custom';
  readonly role: TensorRole | null;
}

/**
 * The role a layer name implies when the caller gives none: names ending in "bias" are biases and
 * names ending in "weight" weights (ONNX initializer and PyTorch parameter names: "fc1.bias",
 * "conv1_weight"); anything else is unknown and quantized.
 */
export function inferTensorRole(layerName: string | undefined): TensorRole | null {
  if (!layerName) return null;
  if (/(^|[._/:-])bias$/i.test(layerName)) return 'bias';
  if (/(^|[._/:-])weights?$/i.test(layerName)) return 'weight';
  return null;
}

function dtypeOf(type: Exclude<QuantizationType, 'MIXED'>, numBits: number): QuantDtypeName | null {
  const info = QUANTIZATION_TYPE_INFO[type];
  if (!info.integer) return null;
  return `${info.signed ? 'int' : 'uint'}${numBits}` as QuantDtypeName;
}

/**
 * Resolves the effective settings of a layer, most specific first:
 * skipLayers (pass through) > quantizeBias / quantizeWeightsOnly (pass through by role) >
 * customQuantizationConfig[layer] > mixedPrecisionLayers (when MIXED or enableMixedPrecision) > instance.
 */
export function resolveLayerConfig(config: QuantizerConfig, layerName?: string, role?: TensorRole): EffectiveLayerConfig {
  const name = layerName ?? null;
  const r = role ?? inferTensorRole(layerName);
  const baseType: Exclude<QuantizationType, 'MIXED'> = config.quantizationType === 'MIXED' ? 'INT8' : config.quantizationType;
  let type = baseType;
  let numBits = config.numBits;
  let symmetric = config.symmetric;
  let perChannel = config.perChannel;
  let source: EffectiveLayerConfig['source'] = 'instance';

  const custom = name !== null && Object.prototype.hasOwnProperty.call(config.customQuantizationConfig, name) ? config.customQuantizationConfig[name] : undefined;
  const mixed = name !== null && (config.quantizationType === 'MIXED' || config.enableMixedPrecision) && config.mixedPrecisionLayers.includes(name);
  if (custom) {
    source = 'custom';
    if (custom.quantizationType !== undefined && custom.quantizationType !== 'MIXED') {
      type = custom.quantizationType;
      numBits = Math.min(QUANTIZATION_TYPE_INFO[type].width, NUM_BITS_RANGE.max);
    }
    if (custom.numBits !== undefined) numBits = custom.numBits;
    if (custom.symmetric !== undefined) symmetric = custom.symmetric;
    if (custom.perChannel !== undefined) perChannel = custom.perChannel;
  } else if (mixed) {
    source = 'mixed-precision';
    type = config.mixedPrecisionType;
    numBits = 16;
  }

  let passThrough: PassThroughReason | null = null;
  if (name !== null && config.skipLayers.includes(name)) passThrough = 'skip-layer';
  else if (r === 'bias' && !config.quantizeBias) passThrough = 'bias-not-quantized';
  else if (r === 'activation' && config.quantizeWeightsOnly) passThrough = 'activation-not-quantized';
  else if (type === 'NONE') passThrough = 'type-none';

  return Object.freeze({ layerName: name, quantizationType: type, numBits, symmetric, perChannel, dtype: dtypeOf(type, numBits), passThrough, source, role: r });
}
