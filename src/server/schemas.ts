/**
 * The JSON schemas of every route, in one place: fastify validates requests with them and
 * @fastify/swagger renders /openapi.json and /docs from them. Field names are the contract's
 * (snake_case). The config model (QuantizerConfigModel) is not spelled here: the HTTP contract
 * generates it from the engine's schema (contract/config-json-schema.ts). Number arrays are marked
 * with the `x-ndarray` keyword, which the validator checks against the NdArray the body parser
 * built, and which the OpenAPI document shows as nested arrays.
 */

/** Options of the x-ndarray keyword. */
export interface NdArraySchemaOptions {
  /** Every element must be an integer (codes to dequantize). */
  integral?: boolean;
  /** At least this many dimensions (default 1). */
  minRank?: number;
}

export function ndArraySchema(description: string, options: NdArraySchemaOptions = {}) {
  return { 'x-ndarray': { integral: options.integral ?? false, minRank: options.minRank ?? 1 }, description } as const;
}

export const INSTANCE_ID_PATTERN = '^[A-Za-z0-9_.-]{1,128}$';

export const instanceParams = {
  type: 'object',
  required: ['instance_id'],
  properties: {
    instance_id: { type: 'string', pattern: INSTANCE_ID_PATTERN, description: 'Instance id: 1-128 of A-Z a-z 0-9 _ . -' },
  },
} as const;

export const layerParams = {
  type: 'object',
  required: ['instance_id', 'layer_name'],
  properties: {
    instance_id: instanceParams.properties.instance_id,
    layer_name: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: 'null' }] });

const channelDim = nullable({ type: 'integer', description: 'Axis for per-channel quantization (negative counts from the end)' });
const layerName = nullable({ type: 'string', maxLength: 1024, description: 'Layer name for per-layer and mixed-precision settings' });

export const quantizationRequest = {
  type: 'object',
  required: ['data'],
  properties: {
    data: ndArraySchema('Numbers to quantize: nested arrays of any rank (rectangular). NaN/Infinity tokens are read as such.'),
    validate: { type: 'boolean', description: 'Check for NaN/Inf as the config says (default true)' },
    channel_dim: channelDim,
    layer_name: layerName,
  },
} as const;

export const dequantizationRequest = {
  type: 'object',
  required: ['data'],
  properties: {
    data: ndArraySchema('Integer codes to dequantize: nested arrays of any rank', { integral: true }),
    channel_dim: channelDim,
    layer_name: layerName,
  },
} as const;

export const calibrationRequest = {
  type: 'object',
  required: ['data'],
  properties: {
    data: ndArraySchema('Calibration batches: axis 0 indexes the batches (a list of 2-D arrays in the contract)', { minRank: 2 }),
    layer_name: layerName,
    channel_dim: channelDim,
  },
} as const;

export const computeParamsRequest = {
  type: 'object',
  required: ['data'],
  properties: {
    data: ndArraySchema('Numbers to compute scale and zero point for'),
    channel_idx: nullable({ type: 'integer', minimum: 0, description: 'Only this channel (index along the config channel_dim)' }),
    layer_name: layerName,
  },
} as const;

export const importParametersRequest = {
  type: 'object',
  required: ['parameters'],
  properties: { parameters: { type: 'object', description: 'What GET /instances/{id}/parameters returned' } },
} as const;

/** Options of the .npy request path (Content-Type: application/x-npy) where the body carries only the array. */
export const arrayOpQuery = {
  type: 'object',
  properties: {
    validate: { type: 'boolean', description: 'default true' },
    channel_dim: { type: 'integer' },
    layer_name: { type: 'string', maxLength: 1024 },
  },
} as const;

export const UPLOAD_OPERATIONS = ['quantize', 'dequantize', 'quantize_dequantize'] as const;
export type UploadOperation = (typeof UPLOAD_OPERATIONS)[number];

/** The operation is checked by the handler, so an unknown one is the contract's 400 rather than a 422. */
export const uploadQuery = {
  type: 'object',
  properties: {
    operation: { type: 'string', default: 'quantize', description: 'quantize | dequantize | quantize_dequantize' },
    validate: { type: 'boolean', default: true },
    channel_dim: { type: 'integer' },
    layer_name: { type: 'string', maxLength: 1024 },
    download: { type: 'boolean', default: false, description: 'Answer the resulting .npy instead of metadata' },
  },
} as const;

const message = { type: 'object', properties: { message: { type: 'string' } } } as const;
const detail = {
  type: 'object',
  properties: { detail: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'object', additionalProperties: true } }] }, code: { type: 'string' } },
} as const;

/** Error answers every route may give. */
export const errorResponses = {
  401: { description: 'Missing or wrong API key', ...detail },
  404: { description: 'Unknown instance', ...detail },
  422: { description: 'Request that does not validate, or data the engine cannot process', ...detail },
} as const;

export const messageResponse = message;

const numberArray = { type: 'array', items: {} } as const;

export const quantizationResponse = {
  type: 'object',
  properties: {
    data: { ...numberArray, description: 'Codes, nested as the input' },
    quantization_type: { type: 'string' },
    original_shape: { type: 'array', items: { type: 'integer' } },
    dtype: { type: 'string', description: 'Code dtype (int8, uint8, int16, ...)' },
    scale: { description: 'Scale(s) used: a number per tensor, an array per channel/row' },
    zero_point: { description: 'Zero point(s) used' },
    parameters: { type: 'object', additionalProperties: true, description: 'The full parameters used' },
  },
} as const;

export const arrayResponse = {
  type: 'object',
  properties: {
    data: { ...numberArray, description: 'Values, nested as the input' },
    original_shape: { type: 'array', items: { type: 'integer' } },
  },
} as const;

export const scaleZeroPointResponse = {
  type: 'object',
  properties: { scale: { type: 'number' }, zero_point: { type: 'number' } },
} as const;

export const statsResponse = {
  type: 'object',
  properties: {
    clipped_values: { type: 'integer' },
    total_values: { type: 'integer' },
    quantize_calls: { type: 'integer' },
    dequantize_calls: { type: 'integer' },
    cache_hits: { type: 'integer' },
    cache_misses: { type: 'integer' },
    last_scale: { type: ['number', 'null'] },
    last_zero_point: { type: ['number', 'null'] },
    processing_time_ms: { type: 'number' },
    requantizations: { type: 'integer' },
    non_finite_values: { type: 'integer' },
    persisted: { type: 'boolean', description: 'true: statistics are kept in the shared PostgreSQL store (every replica\'s counts); false: they live in this process and restart at zero' },
  },
} as const;

const nullableNumber = { type: ['number', 'null'] } as const;
const numbers = { type: 'array', items: { type: 'number' } } as const;

/** POST /instances/{id}/calibrate's answer, which GET /instances/{id}/calibration repeats (the last one). */
export const calibrationResponse = {
  type: 'object',
  properties: {
    message: { type: 'string', description: 'Calibration successful' },
    format: { type: 'string', description: 'quantkit.calibration' },
    version: { type: 'integer', description: 'Version of this answer\'s layout (1)' },
    calibrated_at: { type: 'string', description: 'When the calibration was made (ISO 8601, UTC)' },
    layer_name: { type: ['string', 'null'], description: 'The layer calibrated (null: the instance)' },
    scale: { type: 'number', description: 'Scale (parameter 0 per-channel)' },
    zero_point: { type: 'number', description: 'Zero point (parameter 0 per-channel)' },
    scales: { ...numbers, description: 'Every scale (one per channel per-channel)' },
    zero_points: { ...numbers, description: 'Every zero point' },
    min: { ...nullableNumber, description: 'The chosen range: least min over the channels' },
    max: { ...nullableNumber, description: 'The chosen range: greatest max over the channels' },
    observed_min: { ...nullableNumber, description: 'Least finite value seen (null: none)' },
    observed_max: { ...nullableNumber, description: 'Greatest finite value seen (null: none)' },
    method: { type: 'string', description: 'Range observer (minmax, percentile, ...)' },
    dtype: { type: 'string', description: 'Code dtype' },
    symmetric: { type: 'boolean' },
    axis: { type: ['integer', 'null'], description: 'Channel axis of per-channel parameters (null: per tensor)' },
    batches: { type: 'integer' },
    count: { type: 'integer', description: 'Values seen' },
    clipped_fraction: { type: 'number', description: 'Fraction of the values the clamp to [qmin, qmax] changed' },
    mse: { ...nullableNumber, description: 'Mean squared error of quantize-dequantize over the finite values' },
    sqnr_db: { ...nullableNumber, description: '10·log10(Σx² / Σ(x − x̂)²); null when the error is exactly 0' },
    histogram: {
      type: 'object',
      description: 'Histogram of the error x − x̂ (32 bins)',
      properties: { of: { type: 'string' }, edges: numbers, counts: numbers },
    },
    data_histogram: {
      type: 'object',
      description: 'Histogram of the calibration data (128 bins over the observed values and the chosen range, so clipped tails show; one over all channels per-channel)',
      properties: { of: { type: 'string' }, edges: numbers, counts: numbers, non_finite: { type: 'integer', description: 'NaN and ±Infinity values, not in the counts' } },
    },
    parameters: { type: 'object', additionalProperties: true, description: 'The parameters (quantkit.params JSON)' },
  },
} as const;
