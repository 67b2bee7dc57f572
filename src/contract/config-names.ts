import type { QuantizerConfig } from '../engine/config.js';

/**
 * The HTTP contract spells config fields in snake_case (its QuantizerConfigModel);
 * the library uses camelCase. This table is the one mapping between them, including the keys inside
 * each customQuantizationConfig entry.
 */
export const CONFIG_FIELD_NAMES = {
  quantizationType: 'quantization_type',
  quantizationMode: 'quantization_mode',
  numBits: 'num_bits',
  symmetric: 'symmetric',
  enableCache: 'enable_cache',
  cacheSize: 'cache_size',
  enableMixedPrecision: 'enable_mixed_precision',
  mixedPrecisionType: 'mixed_precision_type',
  perChannel: 'per_channel',
  channelDim: 'channel_dim',
  bufferSize: 'buffer_size',
  usePercentile: 'use_percentile',
  minPercentile: 'min_percentile',
  maxPercentile: 'max_percentile',
  errorOnNan: 'error_on_nan',
  errorOnInf: 'error_on_inf',
  optimizeMemory: 'optimize_memory',
  enableRequantization: 'enable_requantization',
  requantizationThreshold: 'requantization_threshold',
  outlierThreshold: 'outlier_threshold',
  skipLayers: 'skip_layers',
  quantizeBias: 'quantize_bias',
  quantizeWeightsOnly: 'quantize_weights_only',
  mixedPrecisionLayers: 'mixed_precision_layers',
  customQuantizationConfig: 'custom_quantization_config',
  observer: 'observer',
} as const satisfies Record<keyof QuantizerConfig, string>;

export type ConfigFieldName = keyof typeof CONFIG_FIELD_NAMES;
export type SnakeConfigFieldName = (typeof CONFIG_FIELD_NAMES)[ConfigFieldName];

/** Keys allowed inside one customQuantizationConfig entry. */
export const LAYER_OVERRIDE_FIELD_NAMES = {
  quantizationType: 'quantization_type',
  numBits: 'num_bits',
  symmetric: 'symmetric',
  perChannel: 'per_channel',
} as const;

const SNAKE_TO_CAMEL: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(Object.entries(CONFIG_FIELD_NAMES).map(([c, s]) => [s, c])),
);
const LAYER_SNAKE_TO_CAMEL: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(Object.entries(LAYER_OVERRIDE_FIELD_NAMES).map(([c, s]) => [s, c])),
);

/**
 * Keys here are the caller's (layer names, unknown fields): on an ordinary object `out["__proto__"] = v`
 * sets the prototype instead of a key, dropping the entry (and, for a layer map, handing the layer's
 * overrides to every lookup). A null-prototype object keeps every key a plain key.
 */
function emptyRecord(): Record<string, unknown> {
  return Object.create(null) as Record<string, unknown>;
}

function renameKeys(o: Record<string, unknown>, table: Readonly<Record<string, string>>): Record<string, unknown> {
  const out = emptyRecord();
  // Unknown keys keep their spelling so validation can name them.
  for (const [k, v] of Object.entries(o)) out[Object.prototype.hasOwnProperty.call(table, k) ? table[k] : k] = v;
  return out;
}

function renameLayers(v: unknown, table: Readonly<Record<string, string>>): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const out = emptyRecord();
  for (const [layer, o] of Object.entries(v as Record<string, unknown>)) {
    out[layer] = o !== null && typeof o === 'object' && !Array.isArray(o) ? renameKeys(o as Record<string, unknown>, table) : o;
  }
  return out;
}

/**
 * snake_case (HTTP) -> camelCase (library), for a full or partial config. Not validated: pass the
 * result to parseQuantizerConfig / Quantizer.updateConfig. Layer names are left as they are.
 */
export function configFromSnakeCase(input: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out = renameKeys(input, SNAKE_TO_CAMEL);
  if (Object.prototype.hasOwnProperty.call(out, 'customQuantizationConfig')) out.customQuantizationConfig = renameLayers(out.customQuantizationConfig, LAYER_SNAKE_TO_CAMEL);
  return out;
}

/** camelCase (library) -> snake_case (HTTP), for a full or partial config. */
export function configToSnakeCase(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out = renameKeys(config, CONFIG_FIELD_NAMES);
  if (Object.prototype.hasOwnProperty.call(out, 'custom_quantization_config')) out.custom_quantization_config = renameLayers(out.custom_quantization_config, LAYER_OVERRIDE_FIELD_NAMES);
  return out;
}
