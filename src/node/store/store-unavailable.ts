/**
 * True for an error that says the store's database cannot be reached right now (refused or dropped
 * connections, a server shutting down or starting up), not that the request was wrong: the service
 * answers it 503 so clients and load balancers retry, rather than 500. Nothing was written: a
 * conditional write that never reached the database changed nothing.
 */
export function isStoreUnavailable(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e instanceof AggregateError && e.errors.length > 0) return e.errors.every(isStoreUnavailable);
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true;
    // SQLSTATE class 08 (connection exception); 57P01-57P03: the server is shutting down, crashed
    // or not yet accepting connections.
    if (/^08[0-9A-Z]{3}$/.test(code) || code === '57P01' || code === '57P02' || code === '57P03') return true;
  }
  // node-postgres's own words for a connection lost mid-query or a pool that could not connect in time.
  return /^Connection terminated|timeout exceeded when trying to connect/.test(e.message);
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
