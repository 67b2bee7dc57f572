import { z } from 'zod';
import { QUANT_BITS } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import type { ObserverName } from '../core/observers/builtin-observers.js';
import { createObserver, OBSERVER_NAMES } from '../core/observers/builtin-observers.js';

/** The bit widths a config may ask for: those quantkit quantizes to (the one list, core's QUANT_BITS). */
export const NUM_BITS_RANGE = { min: QUANT_BITS[0], max: QUANT_BITS[QUANT_BITS.length - 1] } as const;

/**
 * Version of the config's stored form (its fields and their meaning). Whatever persists a config
 * writes it beside the fields; a reader refuses a newer one instead of misreading it. Bump it when
 * a field changes meaning or name (adding an optional field does not need it: older readers refuse
 * unknown fields anyway).
 */
export const CONFIG_FORMAT_VERSION = 1;

/** Most names skipLayers / mixedPrecisionLayers take (a bound on what a request can make the service hold). */
export const MAX_LAYER_NAMES = 100_000;

/** The value types of the reference's QuantizationType, plus INT4 and UINT4. */
export const QUANTIZATION_TYPES = ['INT8', 'UINT8', 'INT16', 'FLOAT16', 'NONE', 'MIXED', 'INT4', 'UINT4'] as const;
export type QuantizationType = (typeof QUANTIZATION_TYPES)[number];

export const QUANTIZATION_MODES = ['DYNAMIC', 'DYNAMIC_PER_BATCH', 'CALIBRATED', 'SYMMETRIC', 'ASYMMETRIC', 'PER_CHANNEL'] as const;
export type QuantizationMode = (typeof QUANTIZATION_MODES)[number];

/** The higher precisions a mixed-precision layer may get. */
export const MIXED_PRECISION_TYPES = ['INT16', 'FLOAT16'] as const;
export type MixedPrecisionType = (typeof MIXED_PRECISION_TYPES)[number];

/**
 * What each type fixes: the signedness and the container width, which is also the default and the
 * largest numBits. INT8 with numBits 4 gives int4 codes (range -8..7) stored one per Int8Array element.
 * FLOAT16 and NONE are not integer types: their numBits is accepted (2..16) and ignored. MIXED quantizes
 * every layer without a per-layer setting as INT8.
 */
export const QUANTIZATION_TYPE_INFO = {
  INT8: { integer: true, signed: true, width: 8 },
  UINT8: { integer: true, signed: false, width: 8 },
  INT16: { integer: true, signed: true, width: 16 },
  INT4: { integer: true, signed: true, width: 4 },
  UINT4: { integer: true, signed: false, width: 4 },
  MIXED: { integer: true, signed: true, width: 8 },
  FLOAT16: { integer: false, signed: true, width: 16 },
  NONE: { integer: false, signed: true, width: 32 },
} as const satisfies Record<QuantizationType, { integer: boolean; signed: boolean; width: number }>;

/**
 * Accepts the reference's lower-case enum values too ('int8' as QuantizationType.INT8.value). The
 * metadata says so to JSON Schema, which sees only the upper-case enum behind the preprocess.
 */
function upperEnum<T extends readonly [string, ...string[]]>(values: T, what: string) {
  return z
    .preprocess((v) => (typeof v === 'string' ? v.toUpperCase() : v), z.enum(values, { error: `expected ${what} ${values.join(' | ')}` }))
    .meta({ enum: [...values, ...values.map((v) => v.toLowerCase())] });
}

const BITS_ERROR = `expected an integer in ${NUM_BITS_RANGE.min}..${NUM_BITS_RANGE.max}`;
const bits = z
  .number({ error: BITS_ERROR })
  .int({ error: BITS_ERROR })
  .min(NUM_BITS_RANGE.min, { error: BITS_ERROR })
  .max(NUM_BITS_RANGE.max, { error: BITS_ERROR });

const percentile = z
  .number({ error: 'expected a number in [0, 100]' })
  .min(0, { error: 'expected a number in [0, 100]' })
  .max(100, { error: 'expected a number in [0, 100]' });

const flag = z.boolean({ error: 'expected true or false' });
const layerList = z
  .array(z.string({ error: 'expected a layer name (string)' }), { error: 'expected an array of layer names' })
  .max(MAX_LAYER_NAMES, { error: `expected at most ${MAX_LAYER_NAMES} layer names` });

/** One layer's overrides in customQuantizationConfig; what is absent comes from the instance config. */
export const layerOverrideSchema = z.strictObject({
  quantizationType: upperEnum(QUANTIZATION_TYPES, 'one of').optional(),
  numBits: bits.optional(),
  symmetric: flag.optional(),
  perChannel: flag.optional(),
});
export type LayerOverride = z.infer<typeof layerOverrideSchema>;

const LAYER_MAP_ERROR = 'expected an object of layer name -> overrides';

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === null || proto === Object.prototype;
}

/**
 * customQuantizationConfig: layer name -> overrides, as a null-prototype object. Not z.record: it
 * drops a "__proto__" key, and a layer named "constructor" makes it refuse the whole map. Layer
 * names are data, so every name (those of Object.prototype included) is a plain key here.
 * Optional on input (absent is an empty map); JSON Schema cannot see through the transform, so the
 * HTTP contract describes it as an object of layerOverrideSchema.
 */
export const layerOverridesSchema = z.unknown().optional().transform((v, ctx): Record<string, LayerOverride> => {
  const out = Object.create(null) as Record<string, LayerOverride>;
  if (v === undefined) return out;
  if (!isPlainRecord(v)) {
    ctx.addIssue({ code: 'custom', message: LAYER_MAP_ERROR, input: v });
    return out;
  }
  // The entries that validate are kept even when others fail, so the cross-field checks below see them.
  for (const name of Object.keys(v)) {
    const r = layerOverrideSchema.safeParse(v[name], { reportInput: true });
    if (r.success) {
      out[name] = r.data;
      continue;
    }
    for (const iss of r.error.issues) ctx.addIssue({ ...iss, path: [name, ...iss.path] } as Parameters<typeof ctx.addIssue>[0]);
  }
  return out;
});

/**
 * `observer`: a registered observer by name with its options (axis excluded: perChannel and
 * channelDim choose it), e.g. { name: 'percentile', options: { minPercentile: 1, maxPercentile: 99 } }.
 * When given, calibration and the per-call range use it instead of usePercentile/outlierThreshold.
 * The options are checked by building the observer once, so a bad one is a config error.
 */
const observerSchema = z
  .strictObject({
    name: z.enum(OBSERVER_NAMES as [ObserverName, ...ObserverName[]], { error: `expected an observer ${OBSERVER_NAMES.join(' | ')}` }),
    options: z
      .unknown()
      .refine((o) => isPlainRecord(o), { error: 'expected an object of observer options' })
      .refine((o) => !isPlainRecord(o) || !Object.prototype.hasOwnProperty.call(o, 'axis'), { error: 'expected no axis (perChannel and channelDim choose it)' })
      .transform((o) => ({ ...(o as Record<string, unknown>) }))
      .default({}),
  })
  .superRefine((o, ctx) => {
    try {
      createObserver(o.name, o.options);
    } catch (e) {
      if (!(e instanceof QuantError)) throw e;
      ctx.addIssue({ code: 'custom', path: ['options'], input: o.options, message: `expected options ${o.name} accepts (${e.message})` });
    }
  });
export type ObserverConfig = z.output<typeof observerSchema>;

/** The defaults, beside the schema: the reference's (INT8, DYNAMIC, 8 bits, asymmetric, cache on) and ours for the rest. */
export const QUANTIZER_CONFIG_DEFAULTS = {
  quantizationType: 'INT8',
  quantizationMode: 'DYNAMIC',
  /** Undefined in input means "the type's width". */
  numBits: 8,
  symmetric: false,
  enableCache: true,
  cacheSize: 256,
  enableMixedPrecision: false,
  mixedPrecisionType: 'INT16',
  perChannel: false,
  channelDim: 0,
  bufferSize: 1024,
  usePercentile: false,
  minPercentile: 0.1,
  maxPercentile: 99.9,
  errorOnNan: true,
  errorOnInf: true,
  optimizeMemory: true,
  enableRequantization: false,
  requantizationThreshold: 0.01,
  outlierThreshold: null,
  skipLayers: [],
  quantizeBias: true,
  quantizeWeightsOnly: false,
  mixedPrecisionLayers: [],
  customQuantizationConfig: {},
  /** null: the range method comes from usePercentile and outlierThreshold. */
  observer: null,
} as const;

const D = QUANTIZER_CONFIG_DEFAULTS;

/** The config schema (input side: everything optional, numBits defaulting to the type's width). */
export const quantizerConfigSchema = z
  .strictObject({
    quantizationType: upperEnum(QUANTIZATION_TYPES, 'one of')
      .default(D.quantizationType)
      .meta({ description: 'INT8 (default), UINT8, INT16, INT4, UINT4, FLOAT16, NONE or MIXED' }),
    quantizationMode: upperEnum(QUANTIZATION_MODES, 'one of')
      .default(D.quantizationMode)
      .meta({ description: 'DYNAMIC (default), DYNAMIC_PER_BATCH, CALIBRATED, SYMMETRIC, ASYMMETRIC or PER_CHANNEL' }),
    numBits: bits.optional().meta({ description: "Bits per code, at most the type's width (default: the width)" }),
    symmetric: flag.default(D.symmetric),
    enableCache: flag.default(D.enableCache),
    cacheSize: z
      .number({ error: 'expected an integer in 1..65536' })
      .int({ error: 'expected an integer in 1..65536' })
      .min(1, { error: 'expected an integer in 1..65536' })
      .max(65536, { error: 'expected an integer in 1..65536' })
      .default(D.cacheSize),
    enableMixedPrecision: flag.default(D.enableMixedPrecision),
    mixedPrecisionType: upperEnum(MIXED_PRECISION_TYPES, 'one of').default(D.mixedPrecisionType),
    perChannel: flag.default(D.perChannel),
    channelDim: z.number({ error: 'expected an integer axis' }).int({ error: 'expected an integer axis' }).default(D.channelDim),
    bufferSize: z
      .number({ error: 'expected a non-negative integer (elements)' })
      .int({ error: 'expected a non-negative integer (elements)' })
      .min(0, { error: 'expected a non-negative integer (elements)' })
      .max(2 ** 28, { error: 'expected at most 2^28 elements' })
      .default(D.bufferSize),
    usePercentile: flag.default(D.usePercentile),
    minPercentile: percentile.default(D.minPercentile),
    maxPercentile: percentile.default(D.maxPercentile),
    errorOnNan: flag.default(D.errorOnNan),
    errorOnInf: flag.default(D.errorOnInf),
    optimizeMemory: flag.default(D.optimizeMemory),
    enableRequantization: flag.default(D.enableRequantization),
    requantizationThreshold: z
      .number({ error: 'expected a fraction in [0, 1]' })
      .min(0, { error: 'expected a fraction in [0, 1]' })
      .max(1, { error: 'expected a fraction in [0, 1]' })
      .default(D.requantizationThreshold),
    outlierThreshold: z
      .number({ error: 'expected a positive number of standard deviations or null' })
      .positive({ error: 'expected a positive number of standard deviations or null' })
      .refine(Number.isFinite, { error: 'expected a finite number of standard deviations' })
      .nullable()
      .default(D.outlierThreshold),
    skipLayers: layerList.default([]),
    quantizeBias: flag.default(D.quantizeBias),
    quantizeWeightsOnly: flag.default(D.quantizeWeightsOnly),
    mixedPrecisionLayers: layerList.default([]),
    customQuantizationConfig: layerOverridesSchema,
    observer: observerSchema.nullable().default(D.observer),
  })
  .superRefine((c, ctx) => {
    // Refinements run even after a field check failed; each reports only what its field's check did not.
    const validBits = (b: number | undefined): b is number => b !== undefined && bits.safeParse(b).success;
    const validPct = (p: number) => p >= 0 && p <= 100;
    if (validPct(c.minPercentile) && validPct(c.maxPercentile) && c.minPercentile >= c.maxPercentile) {
      ctx.addIssue({ code: 'custom', path: ['minPercentile'], input: c.minPercentile, message: `expected minPercentile < maxPercentile (${c.maxPercentile})` });
    }
    const top = QUANTIZATION_TYPE_INFO[c.quantizationType] as (typeof QUANTIZATION_TYPE_INFO)[QuantizationType] | undefined;
    const width = top?.width ?? NUM_BITS_RANGE.max;
    if (validBits(c.numBits) && top?.integer && c.numBits > width) {
      ctx.addIssue({ code: 'custom', path: ['numBits'], input: c.numBits, message: `expected at most ${width} bits for ${c.quantizationType}` });
    }
    for (const [layer, o] of Object.entries(c.customQuantizationConfig)) {
      const type = o.quantizationType ?? c.quantizationType;
      const info = QUANTIZATION_TYPE_INFO[type] as (typeof QUANTIZATION_TYPE_INFO)[QuantizationType] | undefined;
      if (validBits(o.numBits) && info?.integer && o.numBits > info.width) {
        ctx.addIssue({ code: 'custom', path: ['customQuantizationConfig', layer, 'numBits'], input: o.numBits, message: `expected at most ${info.width} bits for ${type}` });
      }
      if (o.quantizationType === 'MIXED') {
        ctx.addIssue({ code: 'custom', path: ['customQuantizationConfig', layer, 'quantizationType'], input: 'MIXED', message: 'expected a concrete type (MIXED is an instance-level setting)' });
      }
    }
  })
  .transform((c) => {
    const info = QUANTIZATION_TYPE_INFO[c.quantizationType];
    return { ...c, numBits: c.numBits ?? Math.min(info.width, NUM_BITS_RANGE.max) };
  });

export type QuantizerConfigInput = z.input<typeof quantizerConfigSchema>;
/** A validated, complete config; treat as immutable (the Quantizer freezes its copy). */
export type QuantizerConfig = z.output<typeof quantizerConfigSchema>;

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

/** One readable line per problem: "numBits: expected an integer in 2..16, got 20". */
export function formatConfigIssues(error: z.ZodError): string {
  return error.issues
    .map((iss) => {
      const path = iss.path.length ? iss.path.join('.') : 'config';
      if (iss.code === 'unrecognized_keys') return `${path}: unknown field${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => JSON.stringify(k)).join(', ')}`;
      const msg = iss.message.startsWith('Invalid input') ? `expected ${iss.path.length ? 'a valid value' : 'an object'}` : iss.message;
      return `${path}: ${msg}, got ${describe(iss.input)}`;
    })
    .join('; ');
}

function deepFreeze<T>(c: T): T {
  if (c && typeof c === 'object') {
    for (const v of Object.values(c)) deepFreeze(v);
    Object.freeze(c);
  }
  return c;
}

/** Validates a config (all fields optional; defaults filled); throws INVALID_CONFIG naming each bad field. */
export function parseQuantizerConfig(input: unknown): QuantizerConfig {
  const r = quantizerConfigSchema.safeParse(input ?? {}, { reportInput: true });
  if (!r.success) throw new QuantError('INVALID_CONFIG', formatConfigIssues(r.error), { details: { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) } });
  return deepFreeze(r.data);
}

/**
 * A config with `patch` applied on top of `base`, validated as a whole. When the patch changes the
 * type but not numBits, numBits goes back to the new type's default (INT16 -> INT8 gives 8, not an error).
 */
export function mergeQuantizerConfig(base: QuantizerConfig, patch: unknown): QuantizerConfig {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    throw new QuantError('INVALID_CONFIG', `config: expected an object, got ${describe(patch)}`);
  }
  const merged: Record<string, unknown> = { ...base, ...(patch as Record<string, unknown>) };
  if ('quantizationType' in patch && !('numBits' in patch)) delete merged.numBits;
  return parseQuantizerConfig(merged);
}
