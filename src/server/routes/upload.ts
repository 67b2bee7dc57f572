import type { MultipartFile } from '@fastify/multipart';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { float16BitsToFloat32 } from '../../core/float16.js';
import { decodeNpy, encodeNpy } from '../../formats/npy.js';
import { jsonSafe } from '../body/json-safe.js';
import { shapeSize } from '../body/nd-array.js';
import { checkNpyBody, npyToNdArray } from '../body/npy-body.js';
import type { UploadAnswer } from '../offload/offload-upload.js';
import { errorFields, range } from '../offload/offload-upload.js';
import { NPY_MEDIA_TYPE } from '../body/media-types.js';
import { concatInTurns } from '../body/read-body.js';
import { RequestError } from '../errors/request-error.js';
import { errorResponses, instanceParams, UPLOAD_OPERATIONS, uploadQuery } from '../schemas.js';
import type { UploadOperation } from '../schemas.js';
import { snapshotOf } from '../instances/instance-snapshot.js';
import { quantizeOnInstance } from '../instances/quantize-on-instance.js';
import { codesOf, paramSummary } from '../instances/operations.js';

interface UploadQuery {
  operation?: string;
  validate?: boolean;
  channel_dim?: number;
  layer_name?: string;
  download?: boolean;
}


/**
 * A file part's bytes, as part.toBuffer() gives them (413 for a file over the size limit) but
 * joined with turns of the event loop (concatInTurns), in a buffer of their own the worker may take.
 */
async function fileBytes(request: FastifyRequest, part: MultipartFile): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of part.file as AsyncIterable<Buffer>) {
    if (part.file.truncated) chunks.length = 0;
    else chunks.push(chunk);
  }
  if (part.file.truncated) throw new request.server.multipartErrors.RequestFileTooLargeError();
  return concatInTurns(chunks);
}

/**
 * The first file of a multipart body and its bytes, the body read to its closing boundary first:
 * a body that is not well-formed multipart to its end (no boundary, another boundary, cut short)
 * is a 400 before anything runs on it. The plugin's own client errors (413 for a second file or
 * one over the limit, 400 for a connection closed early) keep their status.
 */
async function readUpload(request: FastifyRequest): Promise<{ file: MultipartFile; bytes: Buffer }> {
  let upload: { file: MultipartFile; bytes: Buffer } | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue;
      // Every file part must be consumed for the parse to go on; only the first is kept.
      const bytes = await fileBytes(request, part);
      upload ??= { file: part, bytes };
    }
  } catch (e) {
    const status = (e as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) throw e;
    throw new RequestError(400, `malformed multipart/form-data body: ${(e as Error).message}`);
  }
  if (upload === undefined) throw new RequestError(400, 'no file in the multipart body: send the .npy as the field "file"');
  return upload;
}

/**
 * POST upload_numpy: a multipart .npy file, one operation, metadata or (download=true) the resulting
 * .npy. As on the array routes, the operation runs inside the instance's queue, and arrays of
 * offloadThreshold elements or more run in the offload worker on a snapshot of the instance whose
 * effects are applied before the queue moves on: the answer and the instance end as inline.
 */
export async function uploadRoutes(app: FastifyInstance): Promise<void> {
  const { registry } = app;
  app.post<{ Params: { instance_id: string }; Querystring: UploadQuery }>(
    '/instances/:instance_id/upload_numpy',
    {
      schema: {
        summary: 'Upload a .npy (multipart field "file") and quantize, dequantize or quantize_dequantize it',
        params: instanceParams,
        querystring: uploadQuery,
        consumes: ['multipart/form-data'],
        response: { ...errorResponses, 400: { ...errorResponses[404], description: 'Not a .npy file, or an unknown operation' } },
      },
    },
    async (request, reply) => {
      const inst = registry.get(request.params.instance_id);
      const operation = request.query.operation ?? 'quantize';
      if (!(UPLOAD_OPERATIONS as readonly string[]).includes(operation)) {
        throw new RequestError(400, `Invalid operation '${operation}': expected one of ${UPLOAD_OPERATIONS.join(', ')}`);
      }
      if (!request.isMultipart()) throw new RequestError(400, 'expected a multipart/form-data body with a .npy file in the field "file"');
      const { file, bytes } = await readUpload(request);
      if (!file.filename.toLowerCase().endsWith('.npy')) {
        throw new RequestError(400, `Only .npy files are supported, got '${file.filename}'`);
      }
      const input = decodeNpy(bytes);
      const opts = { validate: request.query.validate ?? true, channelDim: request.query.channel_dim ?? null, layerName: request.query.layer_name ?? null };
      const op = operation as UploadOperation;
      const download = request.query.download ?? false;
      if (app.offloader.shouldOffload(shapeSize(input.shape))) {
        checkNpyBody(input);
        // Every pass over the array (conversion, ranges, error figures, the answer's .npy) runs in
        // the worker: here, only its answer less the array is taken on, inside the queue as inline.
        const answer = await inst.exclusive(async () => {
          const q = inst.quantizer;
          const done = await app.offloader.upload(snapshotOf(q), { operation: op, data: input.data, dtype: input.dtype, shape: input.shape, options: opts, download });
          // Written first, taken on after: a failed write leaves the instance untouched.
          if (done.answer.requantized) await app.registry.save(inst, q.getConfig(), done.effects.parameters);
          q.applyCopyEffects(done.effects);
          return done.answer;
        });
        if (answer.npy !== null) return sendDownload(reply, file.filename, op, answer.npy);
        return answerOf(file.filename, op, input.shape, input.dtype, answer);
      }
      // Below the offload threshold (or with no worker): the same work, here.
      const nd = npyToNdArray(input);
      const x = nd.toFloat32();
      // Decoding and converting a large .npy took its time: a turn of the event loop before the next pass.
      await nextTurn();
      const inRange = download ? null : range(x);
      const result = await inst.exclusive(async () => {
        const q = inst.quantizer;
        if (op === 'quantize') {
          const r = await quantizeOnInstance(app, inst, 'quantize', x, nd.shape, opts);
          // float16 codes are their own values, so a float16 quantize reports its error figures too.
          const restored =
            r.kind === 'float16' ? float16BitsToFloat32(r.codes) : r.params === null ? null : q.dequantize({ data: r.codes as Int8Array, shape: r.shape }, { params: r.params, channelDim: opts.channelDim, layerName: opts.layerName }).values;
          const { data, dtype } = codesOf(r, true);
          return { out: data, outDtype: dtype, params: r.params, restored, extra: { quantization_type: r.quantizationType, clipped: r.clipped } };
        }
        if (op === 'dequantize') {
          const r = q.dequantize({ data: x, shape: nd.shape }, opts);
          return { out: r.values, outDtype: 'float32' as const, params: r.params, restored: null, extra: {} };
        }
        const r = await quantizeOnInstance(app, inst, 'quantize_dequantize', x, nd.shape, opts);
        return { out: r.values, outDtype: 'float32' as const, params: r.params, restored: r.values, extra: { quantization_type: r.quantizationType, clipped: r.clipped } };
      });
      if (download) {
        return sendDownload(reply, file.filename, op, encodeNpy({ dtype: result.outDtype, shape: [...nd.shape], data: result.out }));
      }
      // Each pass over a large array is tens of milliseconds: the event loop gets a turn between
      // them (GET /, other requests) instead of waiting for all of them at once.
      await nextTurn();
      // A float16 instance's codes are float16 bits; their range is that of the values they hold.
      const outRange = range(result.outDtype === 'float16' ? float16BitsToFloat32(result.out as Uint16Array) : result.out);
      await nextTurn();
      const errors = result.restored === null ? null : errorFields(x, result.restored);
      return answerOf(file.filename, op, nd.shape, input.dtype, {
        resultDtype: result.outDtype,
        params: result.params,
        quantizationType: result.extra.quantization_type ?? null,
        clipped: result.extra.clipped ?? null,
        requantized: false,
        inputRange: inRange,
        resultRange: outRange,
        errors,
        npy: null,
      });
    },
  );
}

/** A download's answer: the resulting .npy, named after the upload and the operation. */
function sendDownload(reply: FastifyReply, filename: string, op: UploadOperation, npy: Uint8Array): FastifyReply {
  const name = filename.replace(/\.npy$/i, '').replace(/[^A-Za-z0-9_.-]/g, '_');
  void reply.header('content-type', NPY_MEDIA_TYPE).header('content-disposition', `attachment; filename="${name}_${op}.npy"`);
  return reply.send(Buffer.from(npy.buffer, npy.byteOffset, npy.byteLength));
}

/** The JSON answer, the same whether its figures were taken inline or in the worker. */
function answerOf(filename: string, op: UploadOperation, shape: number[], dtype: string, a: UploadAnswer): unknown {
  return jsonSafe({
    filename,
    operation: op,
    original_shape: shape,
    original_dtype: dtype,
    input_range: a.inputRange,
    result_dtype: a.resultDtype,
    result_range: a.resultRange,
    ...(op === 'dequantize' ? {} : { quantization_type: a.quantizationType, clipped: a.clipped }),
    ...paramSummary(a.params),
    ...(a.errors ?? {}),
  });
}
