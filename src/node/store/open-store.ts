import { PostgresStore } from './postgres-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

/**
 * The store the options name: PostgreSQL at databaseUrl (replicas share it), else SQLite in
 * dataDir (one process owns it). Failing to open is one QuantError line.
 */
export async function openStore(
  options: { dataDir: string; databaseUrl?: string; databasePoolSize?: number; replicaId?: string },
  warn?: (message: string) => void,
): Promise<Store> {
  if (options.databaseUrl !== undefined) {
    const applicationName = `quantkit ${options.replicaId ?? ''}`.trim().slice(0, 63);
    return PostgresStore.open(options.databaseUrl, { poolSize: options.databasePoolSize, warn, applicationName });
  }
  return new SqliteStore(options.dataDir);
}
