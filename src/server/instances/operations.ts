import type { FastifyInstance } from 'fastify';
import { codeStorageOf } from '../../core/dtypes.js';
import { float16BitsToFloat32 } from '../../core/float16.js';
import type { QParams } from '../../core/qparams.js';
import { encodeParamsFile } from '../../formats/params-file.js';
import type { QuantizeResult } from '../../engine/quantizer.js';
import { sendArray, wantsNpy, type ArrayData } from '../body/array-reply.js';
import { jsonSafe } from '../body/json-safe.js';
import { RequestError } from '../errors/request-error.js';
import { calibrateOnInstance } from './calibrate-on-instance.js';
import { computeParamsOnInstance } from './compute-params-on-instance.js';
import { dequantizeOnInstance } from './dequantize-on-instance.js';
import { quantizeOnInstance } from './quantize-on-instance.js';
import type { NdArray } from '../body/nd-array.js';
import {
  arrayOpQuery,
  arrayResponse,
  calibrationRequest,
  calibrationResponse,
  computeParamsRequest,
  dequantizationRequest,
  errorResponses,
  instanceParams,
  quantizationRequest,
  quantizationResponse,
  scaleZeroPointResponse,
} from '../schemas.js';

type IdParams = { instance_id: string };
interface ArrayBody {
  data: NdArray;
  validate?: boolean;
  channel_dim?: number | null;
  layer_name?: string | null;
}
interface ArrayQuery {
  validate?: boolean;
  channel_dim?: number;
  layer_name?: string;
}

const DATA_KEY = { arrayKeys: new Set(['data']) };
const NPY_BODY = { 'application/json': {}, 'application/x-npy': {} };

/** Per-tensor parameters as numbers (the contract's scalars), per-channel ones as arrays. */
export function paramSummary(params: QParams | null): Record<string, unknown> {
  if (params === null) return { scale: null, zero_point: null, parameters: null };
  const perTensor = params.scale.length === 1;
  return {
    scale: perTensor ? params.scale[0] : Array.from(params.scale),
    zero_point: perTensor ? params.zeroPoint[0] : Array.from(params.zeroPoint),
    parameters: encodeParamsFile(params),
  };
}

/** The codes of a quantize result as an array and .npy dtype (float16 travels as its float32 values in JSON). */
export function codesOf(r: QuantizeResult, binary: boolean): { data: ArrayData; dtype: 'int8' | 'uint8' | 'int16' | 'uint16' | 'float16' | 'float32' } {
  if (r.kind === 'none') return { data: r.codes, dtype: 'float32' };
  if (r.kind === 'float16') return binary ? { data: r.codes, dtype: 'float16' } : { data: float16BitsToFloat32(r.codes), dtype: 'float32' };
  return { data: r.codes as ArrayData, dtype: codeStorageOf(r.codes)! };
}

/** Body fields win over the query string (the query is how a .npy body carries its options). */
function arrayOptions(body: ArrayBody, query: ArrayQuery) {
  return {
    validate: body.validate ?? query.validate ?? true,
    channelDim: body.channel_dim ?? query.channel_dim ?? null,
    layerName: body.layer_name ?? query.layer_name ?? null,
  };
}

/**
 * quantize, dequantize, quantize_dequantize, calibrate, compute_params: JSON bodies, and .npy for
 * the first three. Each runs inside its instance's queue; arrays of offloadThreshold elements or
 * more run in the offload worker on its copy of the instance, whose effects (parameters,
 * statistics) are applied in one synchronous step when it answers, before the queue
 * moves on. So operations on the instance see it before or after, as inline; reads that do not
 * queue (stats, layer_params) meanwhile see it as before the operation, never half-updated.
 */
export async function operationRoutes(app: FastifyInstance): Promise<void> {
  const { registry } = app;
  const opSchema = (summary: string, body: object, response: object) => ({
    summary,
    params: instanceParams,
    querystring: arrayOpQuery,
    body,
    consumes: Object.keys(NPY_BODY),
    produces: ['application/json', 'application/x-npy'],
    response: { 200: response, ...errorResponses },
  });

  app.post<{ Params: IdParams; Body: ArrayBody; Querystring: ArrayQuery }>(
    '/instances/:instance_id/quantize',
    { config: DATA_KEY, schema: opSchema('Quantize data (JSON nested arrays of any rank, or a .npy body)', quantizationRequest, quantizationResponse) },
    async (request, reply) => {
      const inst = registry.get(request.params.instance_id);
      const nd = request.body.data;
      const opts = arrayOptions(request.body, request.query);
      const r = await inst.exclusive(() => quantizeOnInstance(app, inst, 'quantize', nd.toFloat32(), nd.shape, opts));
      const { data, dtype } = codesOf(r, wantsNpy(request));
      return sendArray(request, reply, data, dtype, r.shape, {
        quantization_type: r.quantizationType,
        original_shape: r.shape,
        dtype: r.dtype,
        ...(jsonSafe(paramSummary(r.params)) as object),
        clipped: r.clipped,
      });
    },
  );

  app.post<{ Params: IdParams; Body: ArrayBody; Querystring: ArrayQuery }>(
    '/instances/:instance_id/dequantize',
    { config: DATA_KEY, schema: opSchema('Dequantize integer codes (JSON or .npy)', dequantizationRequest, arrayResponse) },
    async (request, reply) => {
      const inst = registry.get(request.params.instance_id);
      const nd = request.body.data;
      const opts = arrayOptions(request.body, request.query);
      const options = { channelDim: opts.channelDim, layerName: opts.layerName };
      const r = await inst.exclusive(() => dequantizeOnInstance(app, inst, nd.data, nd.shape, options));
      return sendArray(request, reply, r.values, 'float32', r.shape, { original_shape: r.shape, ...(jsonSafe(paramSummary(r.params)) as object) });
    },
  );

  app.post<{ Params: IdParams; Body: ArrayBody; Querystring: ArrayQuery }>(
    '/instances/:instance_id/quantize_dequantize',
    { config: DATA_KEY, schema: opSchema('Quantize then dequantize (the values a quantized model sees)', quantizationRequest, arrayResponse) },
    async (request, reply) => {
      const inst = registry.get(request.params.instance_id);
      const nd = request.body.data;
      const opts = arrayOptions(request.body, request.query);
      const r = await inst.exclusive(() => quantizeOnInstance(app, inst, 'quantize_dequantize', nd.toFloat32(), nd.shape, opts));
      return sendArray(request, reply, r.values, 'float32', r.shape, {
        original_shape: r.shape,
        quantization_type: r.quantizationType,
        ...(jsonSafe(paramSummary(r.params)) as object),
        clipped: r.clipped,
      });
    },
  );

  app.post<{ Params: IdParams; Body: { data: NdArray; layer_name?: string | null; channel_dim?: number | null }; Querystring: ArrayQuery }>(
    '/instances/:instance_id/calibrate',
    {
      config: DATA_KEY,
      schema: {
        summary: 'Calibrate from representative batches (axis 0 of data; JSON or a .npy body)',
        params: instanceParams,
        querystring: arrayOpQuery,
        body: calibrationRequest,
        consumes: Object.keys(NPY_BODY),
        response: { 200: calibrationResponse, ...errorResponses },
      },
    },
    async (request) => {
      const inst = registry.get(request.params.instance_id);
      const nd = request.body.data;
      // A .npy body carries only the array: its options come in the query string, as on quantize.
      const options = {
        layerName: request.body.layer_name ?? request.query.layer_name ?? null,
        channelDim: request.body.channel_dim ?? request.query.channel_dim ?? null,
      };
      // Axis 0 indexes the batches; the answer is kept with the parameters in one write, inside the queue.
      return inst.exclusive(() => calibrateOnInstance(app, inst, nd.toFloat32(), nd.shape.slice(1), nd.shape[0], options));
    },
  );

  app.get<{ Params: IdParams }>(
    '/instances/:instance_id/calibration',
    {
      schema: {
        summary: "The instance's last calibration: what its calibrate answered (kept across restarts); 404 if never calibrated",
        params: instanceParams,
        response: { 200: calibrationResponse, ...errorResponses },
      },
    },
    async (request) => {
      const id = request.params.instance_id;
      const inst = registry.get(id);
      // Behind the queue: a calibration in progress is answered once it is done.
      const last = await inst.exclusive(() => inst.lastCalibration);
      if (last === null) throw new RequestError(404, `Quantizer instance ${id} has not been calibrated yet (POST /instances/${id}/calibrate)`);
      return last;
    },
  );

  app.post<{ Params: IdParams; Body: { data: NdArray; channel_idx?: number | null; layer_name?: string | null } }>(
    '/instances/:instance_id/compute_params',
    { config: DATA_KEY, schema: { summary: 'Scale and zero point for data, without quantizing', params: instanceParams, body: computeParamsRequest, response: { 200: scaleZeroPointResponse, ...errorResponses } } },
    async (request) => {
      const inst = registry.get(request.params.instance_id);
      const nd = request.body.data;
      const channelIdx = request.body.channel_idx ?? null;
      const options = { layerName: request.body.layer_name ?? null };
      const r = await inst.exclusive(() => computeParamsOnInstance(app, inst, nd.toFloat32(), nd.shape, channelIdx, options));
      return { scale: r.scale, zero_point: r.zeroPoint };
    },
  );
}
