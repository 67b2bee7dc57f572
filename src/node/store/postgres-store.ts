import pg from 'pg';
import { QuantError } from '../../core/errors.js';
import { INSTANCES_CHANNEL, POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from './postgres-migrations.js';
import type { InstanceRecord, StatsCounts, Store, StoreChange, StoreHealth, StoreWatcher } from './store.js';
import { emptyStatsCounts } from './store.js';
import { encodeStoredConfig } from './stored-config.js';
import { encodeParameters, recordFromRow } from './stored-row.js';
import { VersionConflictError } from './version-conflict-error.js';

/** Connections a replica's pool opens at most when not told (the LISTEN connection comes on top). */
export const DEFAULT_POOL_SIZE = 10;

/** Any number in the advisory-lock space, the same in every quantkit: replicas migrate one at a time. */
const MIGRATION_LOCK = 0x71_6b_6d_67; // "qkmg"

export interface PostgresStoreOptions {
  /** Largest number of pooled connections (default DEFAULT_POOL_SIZE). */
  poolSize?: number;
  /** Injected clock for tests; defaults to Date.now. */
  now?: () => number;
  /** Where connection problems after start-up are reported (the service's logger). */
  warn?: (message: string) => void;
  /** application_name of every connection (pg_stat_activity shows which replica holds which). */
  applicationName?: string;
  /** The schema holding quantkit's tables (created if missing); default public. Tests give each service a schema of its own. */
  schema?: string;
}

interface Row {
  id: string;
  config: string;
  parameters: string | null;
  calibration: string | null;
  created_at: string;
  updated_at: string;
  version: number;
}

/** The database's address for messages: never its password. */
function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'the database (its URL does not parse)';
  }
}

/** A connection failure at start-up as one line an operator can act on. */
function startupError(url: string, e: unknown): QuantError {
  if (e instanceof QuantError) return e;
  const err = e as { code?: string; message?: string };
  const where = describe(url);
  const code = err.code ?? '';
  let what: string;
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET'].includes(code) || /timeout/i.test(err.message ?? '')) {
    what = `cannot reach PostgreSQL at ${where} (${code || err.message}); is the server running and the host and port right?`;
  } else if (code === '28P01' || code === '28000') {
    what = `PostgreSQL refused the login to ${where}: authentication failed (${err.message}); check the user and password in QUANTKIT_DATABASE_URL`;
  } else if (code === '3D000') {
    what = `PostgreSQL at ${where}: ${err.message}; create it first (createdb)`;
  } else {
    what = `cannot open the PostgreSQL store at ${where}: ${err.message ?? String(e)}`;
  }
  return new QuantError('IO_ERROR', what, { cause: e });
}

function num(v: string | number): number {
  return typeof v === 'number' ? v : Number(v);
}

/**
 * The instance store in PostgreSQL, shared by every replica of the service. Each write is one
 * statement committed before its promise resolves (the server's fsync on commit makes it durable);
 * changes of config, parameters or calibration bump the record's version and may name the version
 * they were computed from; statistics are added in one INSERT ... ON CONFLICT DO UPDATE, so
 * concurrent replicas never read-modify-write them. A trigger NOTIFYs every change; watch() LISTENs
 * on a connection of its own and reconnects when it drops, asking the watcher to resync.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private closed = false;
  private readonly stopWatchers = new Set<() => Promise<void>>();

  private constructor(
    private readonly url: string,
    private readonly schema: string,
    private readonly pool: pg.Pool,
    private readonly now: () => number,
    private readonly warn: (message: string) => void,
    private readonly applicationName: string,
    /**
     * Two connections for statistics with synchronous_commit off: a count is visible to every
     * replica at its commit, which then does not wait for the WAL's fsync (a crash of the database
     * server itself may lose the last fraction of a second of counts, never a record's write).
     */
    private readonly statsPool: pg.Pool,
  ) {}

  /**
   * Connects, applies pending migrations (under an advisory lock, so replicas starting together
   * take turns) and checks the schema is not newer than this build. Every failure is one
   * QuantError line: unreachable, authentication failed, database missing, schema too new.
   */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const schema = options.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new QuantError('INVALID_ARGUMENT', `schema name ${JSON.stringify(schema)}: expected lower-case letters, digits and _`);
    const pool = new pg.Pool({
      connectionString: url,
      options: `-c search_path=${schema}`,
      application_name: options.applicationName ?? 'quantkit',
      max: options.poolSize ?? DEFAULT_POOL_SIZE,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    });
    const warn = options.warn ?? (() => {});
    // An idle pooled connection the server drops emits here; the pool replaces it on next use.
    pool.on('error', (e) => warn(`PostgreSQL connection lost (${e.message}); the pool reconnects on next use`));
    try {
      await migrate(pool, url, schema);
    } catch (e) {
      await pool.end().catch(() => {});
      throw startupError(url, e);
    }
    const statsPool = new pg.Pool({
      connectionString: url,
      options: `-c search_path=${schema} -c synchronous_commit=off`,
      application_name: options.applicationName ?? 'quantkit',
      max: 2,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    });
    statsPool.on('error', (e) => warn(`PostgreSQL connection lost (${e.message}); the pool reconnects on next use`));
    return new PostgresStore(url, schema, pool, options.now ?? Date.now, warn, options.applicationName ?? 'quantkit', statsPool);
  }

  async list(): Promise<string[]> {
    const r = await this.pool.query<{ id: string }>('SELECT id FROM instances ORDER BY created_at, id');
    return r.rows.map((row) => row.id);
  }

  async get(id: string): Promise<InstanceRecord | undefined> {
    const r = await this.pool.query<Row>('SELECT id, config, parameters, calibration, created_at, updated_at, version FROM instances WHERE id = $1', [id]);
    const row = r.rows[0];
    if (row === undefined) return undefined;
    return recordFromRow(row);
  }

  async create(id: string, config: Record<string, unknown>, parameters: unknown): Promise<boolean> {
    const t = this.now();
    const r = await this.pool.query(
      'INSERT INTO instances (id, config, parameters, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING',
      [id, encodeStoredConfig(config), encodeParameters(parameters), t],
    );
    return r.rowCount === 1;
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.pool.query('DELETE FROM instances WHERE id = $1', [id]);
    return r.rowCount === 1;
  }

  update(id: string, config: Record<string, unknown>, parameters: unknown, expectedVersion?: number): Promise<number | undefined> {
    return this.conditional(id, expectedVersion, 'config = $3, parameters = $4', [encodeStoredConfig(config), encodeParameters(parameters)]);
  }

  updateParameters(id: string, parameters: unknown, expectedVersion?: number): Promise<number | undefined> {
    return this.conditional(id, expectedVersion, 'parameters = $3', [encodeParameters(parameters)]);
  }

  updateCalibration(id: string, config: Record<string, unknown>, parameters: unknown, calibration: unknown, expectedVersion?: number): Promise<number | undefined> {
    return this.conditional(id, expectedVersion, 'config = $3, parameters = $4, calibration = $5', [
      encodeStoredConfig(config),
      encodeParameters(parameters),
      JSON.stringify(calibration),
    ]);
  }

  /** One UPDATE whose WHERE holds the version condition; $1 id, $2 expected version (null: any), then `values`. */
  private async conditional(id: string, expectedVersion: number | undefined, set: string, values: unknown[]): Promise<number | undefined> {
    const stamp = `$${values.length + 3}`;
    const r = await this.pool.query<{ version: number }>(
      `UPDATE instances SET ${set}, updated_at = ${stamp}, version = version + 1 WHERE id = $1 AND ($2::integer IS NULL OR version = $2) RETURNING version`,
      [id, expectedVersion ?? null, ...values, this.now()],
    );
    if (r.rows.length === 1) return r.rows[0].version;
    const now = await this.pool.query<{ version: number }>('SELECT version FROM instances WHERE id = $1', [id]);
    if (now.rows.length === 0) return undefined;
    throw new VersionConflictError(id, expectedVersion ?? now.rows[0].version);
  }

  async addStats(id: string, d: StatsCounts): Promise<void> {
    try {
      await this.statsPool.query(
        `INSERT INTO instance_stats AS s (id, clipped_values, total_values, quantize_calls, dequantize_calls, processing_time_ms, requantizations, non_finite_values, last_scale, last_zero_point)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET
           clipped_values = s.clipped_values + EXCLUDED.clipped_values,
           total_values = s.total_values + EXCLUDED.total_values,
           quantize_calls = s.quantize_calls + EXCLUDED.quantize_calls,
           dequantize_calls = s.dequantize_calls + EXCLUDED.dequantize_calls,
           processing_time_ms = s.processing_time_ms + EXCLUDED.processing_time_ms,
           requantizations = s.requantizations + EXCLUDED.requantizations,
           non_finite_values = s.non_finite_values + EXCLUDED.non_finite_values,
           last_scale = CASE WHEN EXCLUDED.last_scale = 'NaN' THEN s.last_scale ELSE EXCLUDED.last_scale END,
           last_zero_point = CASE WHEN EXCLUDED.last_scale = 'NaN' THEN s.last_zero_point ELSE EXCLUDED.last_zero_point END`,
        [id, d.clippedValues, d.totalValues, d.quantizeCalls, d.dequantizeCalls, d.processingTimeMs, d.requantizations, d.nonFiniteValues, d.lastScale, d.lastZeroPoint],
      );
    } catch (e) {
      // The instance was deleted meanwhile (foreign key): its counts went with it.
      if ((e as { code?: string }).code === '23503') return;
      throw e;
    }
  }

  async getStats(id: string): Promise<StatsCounts> {
    const r = await this.pool.query<Record<string, string | number>>('SELECT * FROM instance_stats WHERE id = $1', [id]);
    const row = r.rows[0];
    if (row === undefined) return emptyStatsCounts();
    return {
      clippedValues: num(row.clipped_values),
      totalValues: num(row.total_values),
      quantizeCalls: num(row.quantize_calls),
      dequantizeCalls: num(row.dequantize_calls),
      processingTimeMs: num(row.processing_time_ms),
      requantizations: num(row.requantizations),
      nonFiniteValues: num(row.non_finite_values),
      lastScale: num(row.last_scale),
      lastZeroPoint: num(row.last_zero_point),
    };
  }

  async resetStats(id: string): Promise<void> {
    await this.pool.query('DELETE FROM instance_stats WHERE id = $1', [id]);
  }

  async health(): Promise<StoreHealth> {
    if (this.closed) return { ready: false, detail: 'the PostgreSQL store is closed' };
    try {
      const r = await this.pool.query<{ version: number }>('SELECT version FROM quantkit_schema');
      const v = r.rows[0]?.version;
      if (v !== POSTGRES_SCHEMA_VERSION) return { ready: false, detail: `schema version ${v ?? 'none'}, this build writes ${POSTGRES_SCHEMA_VERSION}` };
      return { ready: true, detail: `PostgreSQL store ${describe(this.url)} at schema version ${v}` };
    } catch (e) {
      return { ready: false, detail: `PostgreSQL at ${describe(this.url)} does not answer: ${(e as Error).message}` };
    }
  }

  /**
   * LISTENs on a connection of its own. When it drops, reconnects (50 ms, doubling to 2 s) and,
   * once listening again, calls watcher.resync(): notifications sent meanwhile are lost.
   */
  async watch(watcher: StoreWatcher): Promise<() => Promise<void>> {
    let client: pg.Client | undefined;
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    const connect = async (): Promise<pg.Client> => {
      const c = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 10_000, application_name: this.applicationName });
      c.on('notification', (n) => {
        if (n.channel !== INSTANCES_CHANNEL || n.payload === undefined) return;
        let change: StoreChange;
        try {
          const p = JSON.parse(n.payload) as { schema: unknown; id: unknown; version: unknown };
          if (p.schema !== this.schema || typeof p.id !== 'string' || (p.version !== null && typeof p.version !== 'number')) return;
          change = { id: p.id, version: p.version };
        } catch {
          return;
        }
        watcher.change(change);
      });
      c.on('error', () => {}); // 'end' follows; reconnecting is done there
      await c.connect();
      await c.query(`LISTEN ${INSTANCES_CHANNEL}`);
      return c;
    };
    const reconnect = (delay: number): void => {
      if (stopped) return;
      retry = setTimeout(() => {
        connect().then(
          (c) => {
            if (stopped) {
              void c.end().catch(() => {});
              return;
            }
            client = c;
            c.once('end', () => lost());
            this.warn('PostgreSQL notifications connection is back; reloading every instance');
            watcher.resync();
          },
          () => reconnect(Math.min(delay * 2, 2000)),
        );
      }, delay);
    };
    const lost = (): void => {
      if (stopped) return;
      this.warn('PostgreSQL notifications connection lost; reconnecting (instances are reloaded once it is back)');
      reconnect(50);
    };
    try {
      client = await connect();
    } catch (e) {
      throw startupError(this.url, e);
    }
    client.once('end', () => lost());
    const stop = async (): Promise<void> => {
      stopped = true;
      clearTimeout(retry);
      this.stopWatchers.delete(stop);
      await client?.end().catch(() => {});
    };
    this.stopWatchers.add(stop);
    return stop;
  }

  /** Stops every watch and ends the pool (waiting for the queries in flight). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.stopWatchers]) await stop();
    await Promise.all([this.pool.end(), this.statsPool.end()]);
  }
}

/** Applies the pending steps in one transaction under the migration lock; refuses a newer schema. */
async function migrate(pool: pg.Pool, url: string, schema: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query('CREATE TABLE IF NOT EXISTS quantkit_schema (version integer NOT NULL)');
    const r = await client.query<{ version: number }>('SELECT version FROM quantkit_schema');
    const current = r.rows[0]?.version ?? 0;
    if (current > POSTGRES_SCHEMA_VERSION) {
      throw new QuantError(
        'UNSUPPORTED',
        `the PostgreSQL store at ${describe(url)} has schema version ${current}, newer than this quantkit knows (up to ${POSTGRES_SCHEMA_VERSION}); run the newer quantkit that wrote it`,
      );
    }
    for (const step of POSTGRES_MIGRATIONS) if (step.version > current) await client.query(step.sql);
    if (r.rows.length === 0) await client.query('INSERT INTO quantkit_schema (version) VALUES ($1)', [POSTGRES_SCHEMA_VERSION]);
    else if (current < POSTGRES_SCHEMA_VERSION) await client.query('UPDATE quantkit_schema SET version = $1', [POSTGRES_SCHEMA_VERSION]);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

