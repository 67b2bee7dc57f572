import { QuantError } from '../../core/errors.js';

/**
 * A conditional write refused: the record is no longer at the version the change was computed
 * from (another replica changed it first). Nothing was written. The service answers 409, or
 * recomputes on the current record where the operation is idempotent.
 */
export class VersionConflictError extends QuantError {
  constructor(
    readonly id: string,
    readonly expected: number,
  ) {
    super('INVALID_ARGUMENT', `instance ${id} was changed by another request since version ${expected}; nothing was written`);
    this.name = 'VersionConflictError';
  }
}
