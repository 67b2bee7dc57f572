/**
 * One error type for the whole library, with a code from a closed union so callers (the CLI, the
 * service) can map it to an exit status or an HTTP status without parsing messages.
 */
export const QUANT_ERROR_CODES = [
  'INVALID_ARGUMENT',
  'UNKNOWN_DTYPE',
  'NAN_INPUT',
  'INF_INPUT',
  'EMPTY_INPUT',
  'SHAPE_MISMATCH',
  'AXIS_OUT_OF_RANGE',
  'INVALID_BLOCK_SIZE',
  'INVALID_PARAMS',
  'INVALID_CONFIG',
  'MALFORMED_FILE',
  'UNSUPPORTED',
  'NOT_CALIBRATED',
  'IO_ERROR',
] as const;

export type QuantErrorCode = (typeof QUANT_ERROR_CODES)[number];

export class QuantError extends Error {
  readonly code: QuantErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: QuantErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'QuantError';
    this.code = code;
    this.details = options.details;
  }
}

export function isQuantError(e: unknown): e is QuantError {
  return e instanceof QuantError;
}
