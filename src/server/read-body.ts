import type { Readable } from 'node:stream';
import { RequestError } from './request-error.js';

/**
 * Hands a request body to `sink` chunk by chunk as it arrives, up to `limit` bytes (413 beyond,
 * before reading when the Content-Length says so). Returns the byte count.
 */
export async function streamBody(payload: Readable, limit: number, contentLength: number | undefined, sink: (chunk: Uint8Array) => void): Promise<number> {
  const tooLarge = () => new RequestError(413, `Request body is too large: the limit is ${limit} bytes`);
  if (contentLength !== undefined && contentLength > limit) throw tooLarge();
  let n = 0;
  for await (const chunk of payload as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) throw tooLarge();
    if (contentLength !== undefined && n > contentLength) throw new RequestError(400, `the body is longer than its Content-Length (${contentLength})`);
    sink(chunk);
  }
  if (contentLength !== undefined && n !== contentLength) throw new RequestError(400, `the body ended after ${n} of its ${contentLength} bytes`);
  return n;
}
