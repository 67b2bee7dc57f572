/** One entry of a validation error, in FastAPI's shape so clients of the contract read it unchanged. */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
  input?: unknown;
}

/**
 * A client error found by the service itself (not by the engine): a body that does not parse or
 * does not validate (422 with FastAPI's `{"detail": [issues]}`), or a bad request the contract
 * answers with a message (`{"detail": "..."}`, usually 400).
 */
export class RequestError extends Error {
  readonly statusCode: number;
  readonly detail: string | ValidationIssue[];

  constructor(statusCode: number, detail: string | ValidationIssue[]) {
    super(typeof detail === 'string' ? detail : detail.map((i) => `${i.loc.join('.')}: ${i.msg}`).join('; '));
    this.name = 'RequestError';
    this.statusCode = statusCode;
    this.detail = detail;
  }

  static validation(loc: (string | number)[], msg: string, type = 'value_error'): RequestError {
    return new RequestError(422, [{ loc, msg, type }]);
  }
}
