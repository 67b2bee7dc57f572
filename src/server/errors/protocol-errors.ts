import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** Longest path segment the router takes; longer ones get 414, shorter invalid ids the schema's 422. */
export const MAX_PARAM_LENGTH = 2048;

/**
 * The router's own refusals, in the service's shape: a path that is not UTF-8 percent-encoding
 * (`%ff`) is 400, a path segment over maxParamLength 414 (without echoing the segment back).
 */
export function routerError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.code(414).send({ detail: `a path segment is longer than ${MAX_PARAM_LENGTH} characters (instance ids have at most 128)` });
  } else if (error.code === 'FST_ERR_BAD_URL') {
    void reply.code(400).send({ detail: 'the path is not valid percent-encoded UTF-8' });
  } else {
    void reply.code(error.statusCode !== undefined && error.statusCode < 500 ? error.statusCode : 400).send({ detail: error.message });
  }
}

const CLIENT_ERRORS: Readonly<Record<string, [number, string]>> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'the request was not received in time'],
  HPE_HEADER_OVERFLOW: [431, 'the request headers are too large'],
  HPE_INVALID_CONTENT_LENGTH: [400, 'the Content-Length header is not a valid length'],
  HPE_UNEXPECTED_CONTENT_LENGTH: [400, 'the request has both Content-Length and Transfer-Encoding'],
  HPE_INVALID_TRANSFER_ENCODING: [400, 'the Transfer-Encoding header is not valid, or comes with a Content-Length'],
  HPE_INVALID_CHUNK_SIZE: [400, 'a chunk size of the chunked body is not valid'],
};

/**
 * What Node's HTTP parser refuses before any route sees it (a bad Content-Length, a malformed
 * request line or header), answered as JSON with a `detail` like every other client error; the
 * connection then closes, since the parser cannot tell where the next request would start.
 */
export function clientError(this: FastifyInstance, err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'the request is not valid HTTP'];
  const body = JSON.stringify({ detail });
  this.log.debug({ err }, 'client error');
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}
