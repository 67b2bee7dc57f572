import type { Readable } from 'node:stream';
import { RequestError } from './request-error.js';

/**
 * Reads a request body up to `limit` bytes (413 beyond). With `shared`, and a Content-Length to
 * size it, the bytes land in one SharedArrayBuffer that worker threads can read in place;
 * otherwise in an ordinary Buffer.
 */
export async function readBody(payload: Readable, limit: number, contentLength: number | undefined, shared: boolean): Promise<Uint8Array> {
  const tooLarge = () => new RequestError(413, `Request body is too large: the limit is ${limit} bytes`);
  if (contentLength !== undefined && contentLength > limit) throw tooLarge();
  if (shared && contentLength !== undefined) {
    const out = new Uint8Array(new SharedArrayBuffer(contentLength));
    let n = 0;
    for await (const chunk of payload as AsyncIterable<Buffer>) {
      if (n + chunk.length > contentLength) throw new RequestError(400, `the body is longer than its Content-Length (${contentLength})`);
      out.set(chunk, n);
      n += chunk.length;
    }
    if (n !== contentLength) throw new RequestError(400, `the body ended after ${n} of its ${contentLength} bytes`);
    return out;
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of payload as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, n);
}
