import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { QuantError } from '../../core/errors.js';
import type { InstanceRecord, StatsCounts, Store, StoreHealth } from './store.js';
import { addStatsCounts, emptyStatsCounts } from './store.js';
import { VersionConflictError } from './version-conflict-error.js';
import { isSqliteFull, StoreFullError } from './store-full-error.js';
import { encodeStoredConfig } from './stored-config.js';
import { encodeParameters, recordFromRow } from './stored-row.js';

/** File name of the database inside the data directory. */
export const STORE_FILE = 'quantkit.sqlite';

/** 1: instances (config, parameters); 2: adds each instance's last calibration report; 3: adds each record's version. */
export const SQLITE_SCHEMA_VERSION = 3;
const SCHEMA_VERSION = SQLITE_SCHEMA_VERSION;

interface Row {
  id: string;
  config: string;
  parameters: string | null;
  calibration: string | null;
  created_at: number;
  updated_at: number;
  version: number;
}

export interface SqliteStoreOptions {
  /** Injected clock for tests; defaults to Date.now. */
  now?: () => number;
  /**
   * Caps the database at this many pages (PRAGMA max_page_count). Writes beyond it fail with
   * SQLITE_FULL exactly as on a full disk, which is how tests make a disk full without mounting one.
   */
  maxPageCount?: number;
}

/**
 * Store in an SQLite file opened in WAL mode with synchronous=FULL: WAL lets readers proceed
 * during a write, and FULL fsyncs the WAL at every commit, so a row is on disk before the
 * statement returns and survives kill -9 and power loss alike. (NORMAL would only survive a
 * process crash, not an OS crash; the service's writes are rare next to its reads, so the extra
 * fsync costs nothing that matters.)
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  /**
   * Statistics stay in memory: one process owns an SQLite store, so its counts are exact without
   * an fsync per request; they start at zero after a restart (PostgreSQL's are kept).
   */
  private readonly stats = new Map<string, StatsCounts>();
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly stmts: {
    list: Database.Statement<[], { id: string }>;
    get: Database.Statement<[string], Row>;
    insert: Database.Statement<[string, string, string | null, number, number]>;
    delete: Database.Statement<[string]>;
    update: Database.Statement<[string, string | null, number, string, number | null, number | null]>;
    updateParameters: Database.Statement<[string | null, number, string, number | null, number | null]>;
    updateCalibration: Database.Statement<[string, string | null, string, number, string, number | null, number | null]>;
    version: Database.Statement<[string], { version: number }>;
  };

  constructor(dataDir: string, options: SqliteStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    try {
      mkdirSync(dataDir, { recursive: true });
      this.path = join(dataDir, STORE_FILE);
      this.db = new Database(this.path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
      if (options.maxPageCount !== undefined) this.db.pragma(`max_page_count = ${Math.floor(options.maxPageCount)}`);
    } catch (e) {
      if (e instanceof QuantError) throw e;
      throw new QuantError('IO_ERROR', `cannot open the instance store in ${dataDir}: ${(e as Error).message}`, { cause: e });
    }
    this.stmts = {
      list: this.db.prepare('SELECT id FROM instances ORDER BY created_at, id'),
      get: this.db.prepare('SELECT * FROM instances WHERE id = ?'),
      insert: this.db.prepare(
        'INSERT OR IGNORE INTO instances (id, config, parameters, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
      ),
      delete: this.db.prepare('DELETE FROM instances WHERE id = ?'),
      // The version condition and the bump are one statement: a record at another version is left alone.
      update: this.db.prepare('UPDATE instances SET config = ?, parameters = ?, updated_at = ?, version = version + 1 WHERE id = ? AND (? IS NULL OR version = ?)'),
      updateParameters: this.db.prepare('UPDATE instances SET parameters = ?, updated_at = ?, version = version + 1 WHERE id = ? AND (? IS NULL OR version = ?)'),
      updateCalibration: this.db.prepare(
        'UPDATE instances SET config = ?, parameters = ?, calibration = ?, updated_at = ?, version = version + 1 WHERE id = ? AND (? IS NULL OR version = ?)',
      ),
      version: this.db.prepare('SELECT version FROM instances WHERE id = ?'),
    };
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new QuantError(
        'UNSUPPORTED',
        `instance store ${this.path} has schema version ${version}; this quantkit knows up to ${SCHEMA_VERSION}`,
      );
    }
    if (version === SCHEMA_VERSION) return;
    // Each step runs once, in order, and the version moves with it in one transaction, so a store
    // of any earlier version (rows included) is brought up to date and a failed step changes nothing.
    this.db.transaction(() => {
      if (version < 1) {
        this.db.exec(`CREATE TABLE IF NOT EXISTS instances (
          id TEXT PRIMARY KEY NOT NULL,
          config TEXT NOT NULL,
          parameters TEXT,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL
        ) STRICT`);
      }
      if (version < 2) this.db.exec('ALTER TABLE instances ADD COLUMN calibration TEXT');
      if (version < 3) this.db.exec('ALTER TABLE instances ADD COLUMN version INTEGER NOT NULL DEFAULT 1');
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }

  async list(): Promise<string[]> {
    return this.stmts.list.all().map((r) => r.id);
  }

  async get(id: string): Promise<InstanceRecord | undefined> {
    const row = this.stmts.get.get(id);
    if (row === undefined) return undefined;
    return recordFromRow(row);
  }

  async create(id: string, config: Record<string, unknown>, parameters: unknown): Promise<boolean> {
    const t = this.now();
    const created = this.write(`instance ${id}`, () => this.stmts.insert.run(id, encodeStoredConfig(config), encodeParameters(parameters), t, t).changes === 1);
    if (created) this.stats.delete(id);
    return created;
  }

  async delete(id: string): Promise<boolean> {
    this.stats.delete(id);
    return this.write(`the deletion of instance ${id}`, () => this.stmts.delete.run(id).changes === 1);
  }

  async update(id: string, config: Record<string, unknown>, parameters: unknown, expectedVersion?: number): Promise<number | undefined> {
    return this.conditional(id, expectedVersion, () => this.stmts.update.run(encodeStoredConfig(config), encodeParameters(parameters), this.now(), id, expectedVersion ?? null, expectedVersion ?? null).changes);
  }

  async updateParameters(id: string, parameters: unknown, expectedVersion?: number): Promise<number | undefined> {
    return this.conditional(id, expectedVersion, () => this.stmts.updateParameters.run(encodeParameters(parameters), this.now(), id, expectedVersion ?? null, expectedVersion ?? null).changes);
  }

  async updateCalibration(id: string, config: Record<string, unknown>, parameters: unknown, calibration: unknown, expectedVersion?: number): Promise<number | undefined> {
    return this.conditional(id, expectedVersion, () =>
      this.stmts.updateCalibration.run(encodeStoredConfig(config), encodeParameters(parameters), JSON.stringify(calibration), this.now(), id, expectedVersion ?? null, expectedVersion ?? null).changes,
    );
  }

  async addStats(id: string, delta: StatsCounts): Promise<void> {
    let s = this.stats.get(id);
    if (s === undefined) this.stats.set(id, (s = emptyStatsCounts()));
    addStatsCounts(s, delta);
  }

  async getStats(id: string): Promise<StatsCounts> {
    return { ...(this.stats.get(id) ?? emptyStatsCounts()) };
  }

  async resetStats(id: string): Promise<void> {
    this.stats.delete(id);
  }

  async health(): Promise<StoreHealth> {
    if (!this.db.open) return { ready: false, detail: 'the SQLite store is closed' };
    return { ready: true, detail: `SQLite store ${this.path} at schema version ${SCHEMA_VERSION}` };
  }

  /** Runs one conditional update; the new version, undefined for a missing id, VersionConflictError for another version. */
  private conditional(id: string, expectedVersion: number | undefined, run: () => number): number | undefined {
    const changes = this.write(`instance ${id}`, run);
    const row = this.stmts.version.get(id);
    if (changes === 1) return row!.version;
    if (row === undefined) return undefined;
    throw new VersionConflictError(id, expectedVersion ?? row.version);
  }

  /** One statement (SQLite rolls it back whole on failure); a full disk becomes a StoreFullError naming what was not saved. */
  private write<T>(what: string, run: () => T): T {
    try {
      return run();
    } catch (e) {
      if (isSqliteFull(e)) throw new StoreFullError(what, e);
      throw e;
    }
  }

  /**
   * Checkpoints the WAL into the main file so a clean shutdown leaves one self-contained file. On a
   * full disk the checkpoint may fail; the WAL then stays beside the file (every commit in it is
   * durable and replayed at the next open) and the database is closed all the same.
   */
  async close(): Promise<void> {
    if (!this.db.open) return;
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.close();
    }
  }
}

