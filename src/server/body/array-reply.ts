import { endianness } from 'node:os';
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { NpyDtype } from '../../formats/npy.js';
import { encodeNpy } from '../../formats/npy.js';
import { encodeNpyHeader } from '../../formats/npy-header.js';
import { JsonWriter } from './json-writer.js';
import { NPY_MEDIA_TYPE } from './media-types.js';

/** Whether the client asked for a .npy answer (Accept: application/x-npy). */
export function wantsNpy(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.includes(NPY_MEDIA_TYPE);
}

export type ArrayData = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Float32Array;

/**
 * Elements per slice of a JSON array answer (16 times as many codes, written from digit tables):
 * a few milliseconds of work, after which the event loop answers whatever else came in (GET /,
 * other instances) before the next slice. A 2048x2048 float32 answer takes about a second to
 * write; in one piece it would hold every other request that long.
 */
export const JSON_SLICE_ELEMENTS = 1 << 14;

/**
 * From this many bytes of data, a .npy answer goes out as its header then the array's own bytes,
 * never copied into one buffer: 16 MB copied (and allocated) in one step of the event loop is what
 * a 2048x2048 float32 answer would otherwise cost it.
 */
export const NPY_STREAM_BYTES = 1 << 20;

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Answers `{"data": <nested array>, ...fields}` as JSON built by JsonWriter, or the array alone as
 * a .npy (the other fields then travel in X-Quantkit-* headers as JSON). A large JSON answer is
 * written in slices with a turn of the event loop between them, then sent whole with its
 * Content-Length, as a small one; if the client has gone meanwhile, the writing stops there.
 */
export async function sendArray(
  request: FastifyRequest,
  reply: FastifyReply,
  data: ArrayData,
  dtype: NpyDtype,
  shape: readonly number[],
  fields: Record<string, unknown>,
): Promise<FastifyReply> {
  if (wantsNpy(request)) {
    // Headers must stay small (clients cap them near 16 KiB): per-channel parameter lists are dropped.
    const meta = Object.fromEntries(Object.entries(fields).filter(([, v]) => JSON.stringify(v ?? null).length <= 1024));
    void reply.header('content-type', NPY_MEDIA_TYPE).header('x-quantkit-meta', JSON.stringify(meta));
    if (data.byteLength >= NPY_STREAM_BYTES && LITTLE_ENDIAN) {
      // The bytes encodeNpy would give (native little-endian, C order; no bool among answers).
      const header = encodeNpyHeader(dtype, shape);
      void reply.header('content-length', header.length + data.byteLength);
      return reply.send(Readable.from([Buffer.from(header), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
    }
    const bytes = encodeNpy({ dtype, shape: [...shape], data });
    return reply.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  const w = new JsonWriter(256);
  w.raw('{"data":');
  for (const _ of w.arraySlices(data, shape, JSON_SLICE_ELEMENTS)) {
    await nextTurn();
    if (reply.raw.destroyed) return reply.send();
  }
  for (const [k, v] of Object.entries(fields)) w.raw(',').value(k).raw(':').value(v);
  w.raw('}');
  void reply.header('content-type', 'application/json; charset=utf-8');
  const bytes = w.finish();
  // Node writes a small string body in one write with the headers; a Buffer takes a writev.
  return reply.send(bytes.length <= 16384 ? bytes.toString('utf8') : bytes);
}
