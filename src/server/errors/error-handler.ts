import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { QuantErrorCode } from '../../core/errors.js';
import { isQuantError } from '../../core/errors.js';
import { StoreFullError } from '../../node/store/store-full-error.js';
import { isStoreUnavailable } from '../../node/store/store-unavailable.js';
import type { ValidationIssue } from './request-error.js';
import { RequestError } from './request-error.js';

/**
 * The HTTP status of each library error code (statuses live in server/ only). Everything caused by
 * the request's content is a 4xx: 422 for well-formed requests the engine cannot process, 400 for
 * a file that is not what it claims, 409 for an operation the instance's state does not allow yet.
 * Only IO_ERROR is the service's own failure.
 */
export const STATUS_OF_CODE = {
  INVALID_ARGUMENT: 422,
  UNKNOWN_DTYPE: 422,
  NAN_INPUT: 422,
  INF_INPUT: 422,
  EMPTY_INPUT: 422,
  SHAPE_MISMATCH: 422,
  AXIS_OUT_OF_RANGE: 422,
  INVALID_BLOCK_SIZE: 422,
  INVALID_PARAMS: 422,
  INVALID_CONFIG: 422,
  MALFORMED_FILE: 400,
  UNSUPPORTED: 422,
  NOT_CALIBRATED: 409,
  IO_ERROR: 500,
} as const satisfies Record<QuantErrorCode, number>;

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** ajv errors -> FastAPI's issues: loc = [part, ...path], a readable msg and a type. */
function validationIssues(part: string, errors: AjvError[]): ValidationIssue[] {
  return errors.map((e) => {
    const path = e.instancePath
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    if (e.keyword === 'required') {
      return { loc: [part, ...path, String(e.params.missingProperty)], msg: 'Field required', type: 'missing' };
    }
    if (e.keyword === 'additionalProperties') {
      return { loc: [part, ...path, String(e.params.additionalProperty)], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' };
    }
    let msg = e.message ?? 'invalid value';
    if (e.keyword === 'enum') msg = `${msg}: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    return { loc: [part, ...path], msg, type: e.keyword };
  });
}

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

/**
 * Every error becomes JSON with a `detail`, as FastAPI answers: a list of issues for validation
 * (422), a message otherwise. Unexpected errors are logged and answered 500 without internals.
 */
export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof RequestError) {
    void reply.code(error.statusCode).send({ detail: error.detail });
    return;
  }
  if (error instanceof StoreFullError) {
    // Not the client's mistake and not a bug: 507 says the write may succeed once space is freed.
    request.log.error({ err: error }, 'instance store full');
    void reply.code(507).send({ detail: error.message, code: 'STORE_FULL' });
    return;
  }
  if (isStoreUnavailable(error)) {
    // The database is down or restarting: the client's request may succeed on a retry, here or on
    // another replica, so 503 with Retry-After, never 500 (its address stays in the log, not the answer).
    request.log.error({ err: error }, 'instance store unreachable');
    void reply.code(503).header('retry-after', '1').send({ detail: "the instance store's database cannot be reached; nothing was changed, retry shortly", code: 'STORE_UNAVAILABLE' });
    return;
  }
  if (isQuantError(error)) {
    const status = STATUS_OF_CODE[error.code];
    if (status >= 500) request.log.error({ err: error }, 'library I/O error');
    void reply.code(status).send({ detail: error.message, code: error.code });
    return;
  }
  const fe = error as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (fe.validation) {
    const part = PART_NAMES[fe.validationContext ?? 'body'] ?? 'body';
    void reply.code(422).send({ detail: validationIssues(part, fe.validation) });
    return;
  }
  const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 600 ? fe.statusCode : 500;
  if (status >= 500) {
    request.log.error({ err: error }, 'unhandled error');
    void reply.code(500).send({ detail: 'Internal Server Error' });
    return;
  }
  // Fastify's and the plugins' own client errors (413, 415, 406, a multipart limit): their message says what.
  const msg = fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'the request body is empty; expected a JSON object' : fe.message;
  void reply.code(status).send({ detail: msg, ...(fe.code ? { code: fe.code } : {}) });
}
