import type { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { RequestError } from '../errors/request-error.js';

/**
 * Bytes handed to the sink between turns of the event loop. Chunks that arrived together are
 * otherwise all parsed in one go (a fast client fills megabytes between two polls): 256 KiB of
 * JSON numbers parse in a few milliseconds, after which GET / and other requests get their turn.
 */
export const TURN_BYTES = 1 << 18;

/**
 * Hands a request body to `sink` chunk by chunk as it arrives, up to `limit` bytes (413 beyond,
 * before reading when the Content-Length says so). Returns the byte count.
 */
export async function streamBody(payload: Readable, limit: number, contentLength: number | undefined, sink: (chunk: Uint8Array) => void): Promise<number> {
  const tooLarge = () => new RequestError(413, `Request body is too large: the limit is ${limit} bytes`);
  if (contentLength !== undefined && contentLength > limit) throw tooLarge();
  let n = 0;
  let sinceTurn = 0;
  for await (const chunk of payload as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) throw tooLarge();
    if (contentLength !== undefined && n > contentLength) throw new RequestError(400, `the body is longer than its Content-Length (${contentLength})`);
    sink(chunk);
    sinceTurn += chunk.length;
    if (sinceTurn >= TURN_BYTES) {
      sinceTurn = 0;
      await nextTurn();
    }
  }
  if (contentLength !== undefined && n !== contentLength) throw new RequestError(400, `the body ended after ${n} of its ${contentLength} bytes`);
  return n;
}

/**
 * Bytes copied between turns of the event loop by concatInTurns: about a millisecond of copying.
 */
export const COPY_TURN_BYTES = 1 << 20;

/**
 * Buffer.concat in pieces: the chunks of a large body copied into one buffer of its own (never
 * the shared allocation pool, so it may be transferred to a worker), with a turn of the event loop
 * every COPY_TURN_BYTES. A 16 MB upload copied in one go holds GET / and every other request.
 */
export async function concatInTurns(chunks: readonly Uint8Array[]): Promise<Buffer> {
  let total = 0;
  for (const c of chunks) total += c.length;
  if (total <= COPY_TURN_BYTES) return Buffer.concat(chunks, total);
  const out = Buffer.allocUnsafeSlow(total);
  let at = 0;
  let sinceTurn = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
    sinceTurn += c.length;
    if (sinceTurn >= COPY_TURN_BYTES) {
      sinceTurn = 0;
      await nextTurn();
    }
  }
  return out;
}
