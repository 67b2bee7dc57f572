import { QuantError } from '../../core/errors.js';

/**
 * A write the store refused because the disk (or the database's size cap) is full. Nothing of the
 * write was kept: SQLite rolls the statement back. The service answers it 507 Insufficient Storage
 * rather than 500, since it is a condition an operator can fix and a client can retry after.
 */
export class StoreFullError extends QuantError {
  constructor(what: string, cause: unknown) {
    super('IO_ERROR', `the instance store is full (no space left on its disk): ${what} was not saved and nothing changed`, { cause });
    this.name = 'StoreFullError';
  }
}

/** True for the error SQLite raises when a write needs a page it cannot get (disk full, max_page_count reached). */
export function isSqliteFull(e: unknown): boolean {
  return e instanceof Error && (e as { code?: unknown }).code === 'SQLITE_FULL';
}
