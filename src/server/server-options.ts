import { QuantError } from '../core/errors.js';

/** Everything `quantkit serve` and buildApp can be told; environment and flags fill the same record. */
export interface ServerOptions {
  port: number;
  host: string;
  dataDir: string;
  /** Bearer token every route except GET / requires; undefined leaves the service open. */
  apiKey: string | undefined;
  /** Origins allowed to call from a browser: [] none (default), ['*'] any. */
  corsOrigins: string[];
  /**
   * Host names answered besides localhost, IP addresses and the bound address (421 for others):
   * `.example.com` adds every subdomain too, `*` any name.
   */
  allowedHosts: string[];
  /** Largest request body in bytes (JSON, .npy or multipart); larger bodies get 413. */
  bodyLimit: number;
  /** Arrays with at least this many elements run in a worker thread. */
  offloadThreshold: number;
  /** pino level: 'info' logs one line per request, 'silent' nothing. */
  logLevel: string;
  /** postgres://user:password@host:port/db: instances in PostgreSQL, shared by replicas; undefined: SQLite in dataDir. */
  databaseUrl: string | undefined;
  /** Pooled PostgreSQL connections per replica at most (two more count statistics, one listens for changes). */
  databasePoolSize: number;
  /** Named in every log line; default host name and process id. */
  replicaId: string | undefined;
}

export const DEFAULT_BODY_LIMIT = 256 * 1024 * 1024;

export const SERVER_DEFAULTS: ServerOptions = {
  port: 8000,
  host: '127.0.0.1',
  dataDir: './data',
  apiKey: undefined,
  corsOrigins: [],
  allowedHosts: [],
  bodyLimit: DEFAULT_BODY_LIMIT,
  offloadThreshold: 1 << 18,
  logLevel: 'info',
  databaseUrl: undefined,
  databasePoolSize: 10,
  replicaId: undefined,
};

/** Environment variable -> option; `quantkit serve --help` lists the same names. */
export const SERVER_ENV = {
  port: 'PORT',
  host: 'HOST',
  dataDir: 'QUANTKIT_DATA_DIR',
  apiKey: 'QUANTKIT_API_KEY',
  corsOrigins: 'QUANTKIT_CORS_ORIGINS',
  allowedHosts: 'QUANTKIT_ALLOWED_HOSTS',
  bodyLimit: 'QUANTKIT_BODY_LIMIT',
  offloadThreshold: 'QUANTKIT_OFFLOAD_THRESHOLD',
  logLevel: 'QUANTKIT_LOG_LEVEL',
  databaseUrl: 'QUANTKIT_DATABASE_URL',
  databasePoolSize: 'QUANTKIT_DATABASE_POOL_SIZE',
  replicaId: 'QUANTKIT_REPLICA_ID',
} as const satisfies Record<keyof ServerOptions, string>;

type Raw = Partial<Record<keyof ServerOptions, string | undefined>>;

function integer(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new QuantError('INVALID_ARGUMENT', `${name}: expected an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** "256MiB", "1mb", "4096" -> bytes. */
export function parseByteSize(name: string, v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(v);
  if (!m) throw new QuantError('INVALID_ARGUMENT', `${name}: expected a size like 1048576, 512KiB or 256MiB, got ${JSON.stringify(v)}`);
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  const bytes = Math.floor(Number(m[1]) * mult);
  if (bytes < 1 || bytes > 2 ** 31 - 1) {
    throw new QuantError('INVALID_ARGUMENT', `${name}: expected between 1 byte and 2 GiB, got ${JSON.stringify(v)}`);
  }
  return bytes;
}

function commaList(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * Options from strings (flags first, then environment, then defaults), validated: a bad value is
 * an INVALID_ARGUMENT naming the variable, before anything listens.
 */
export function resolveServerOptions(flags: Raw, env: Readonly<Record<string, string | undefined>>): ServerOptions {
  const pick = (k: keyof ServerOptions): string | undefined => {
    const f = flags[k];
    if (f !== undefined) return f;
    const e = env[SERVER_ENV[k]];
    return e === undefined || e === '' ? undefined : e;
  };
  const o: ServerOptions = { ...SERVER_DEFAULTS, corsOrigins: [...SERVER_DEFAULTS.corsOrigins], allowedHosts: [...SERVER_DEFAULTS.allowedHosts] };
  const port = pick('port');
  if (port !== undefined) o.port = integer(SERVER_ENV.port, port, 0, 65535);
  o.host = pick('host') ?? o.host;
  o.dataDir = pick('dataDir') ?? o.dataDir;
  o.apiKey = pick('apiKey');
  const cors = pick('corsOrigins');
  if (cors !== undefined) o.corsOrigins = commaList(cors);
  const hosts = pick('allowedHosts');
  if (hosts !== undefined) o.allowedHosts = commaList(hosts);
  const limit = pick('bodyLimit');
  if (limit !== undefined) o.bodyLimit = parseByteSize(SERVER_ENV.bodyLimit, limit);
  const offload = pick('offloadThreshold');
  if (offload !== undefined) o.offloadThreshold = integer(SERVER_ENV.offloadThreshold, offload, 1, 2 ** 31);
  o.logLevel = pick('logLevel') ?? o.logLevel;
  const url = pick('databaseUrl');
  if (url !== undefined) {
    if (!/^postgres(?:ql)?:\/\//i.test(url)) {
      throw new QuantError('INVALID_ARGUMENT', `${SERVER_ENV.databaseUrl}: expected a postgres://user:password@host:port/database URL, got one starting ${JSON.stringify(url.slice(0, 12))}`);
    }
    o.databaseUrl = url;
  }
  const pool = pick('databasePoolSize');
  if (pool !== undefined) o.databasePoolSize = integer(SERVER_ENV.databasePoolSize, pool, 1, 1000);
  o.replicaId = pick('replicaId');
  return o;
}
