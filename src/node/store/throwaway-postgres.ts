import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { QuantError } from '../../core/errors.js';

/** Where Debian's PostgreSQL 15 packages put the server binaries. */
export const POSTGRES_BIN_DIR = process.env.QUANTKIT_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** True when initdb and postgres can be run here. */
export function postgresAvailable(binDir: string = POSTGRES_BIN_DIR): boolean {
  return existsSync(join(binDir, 'initdb')) && existsSync(join(binDir, 'postgres'));
}

export interface ThrowawayPostgres {
  /** postgres://quantkit@127.0.0.1:port/postgres (trust authentication, loopback only). */
  readonly url: string;
  readonly port: number;
  /** A URL of another database of this cluster. */
  urlOf(database: string): string;
  /** Stops the server (fast shutdown) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The account the server runs as: postgres refuses to run as root, so a root caller (CI in a
 * container) hands the cluster to the `postgres` account Debian's package creates, or to `nobody`.
 */
function serverAccount(): { user: string; uid: number; gid: number } | null {
  if (userInfo().uid !== 0) return null;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      if (uid !== 0) return { user, uid, gid };
    } catch {
      // No such account: try the next.
    }
  }
  throw new QuantError('UNSUPPORTED', 'running as root and neither a postgres nor a nobody account exists to run PostgreSQL as');
}

/**
 * A PostgreSQL cluster in a fresh temporary directory, listening on a free port of 127.0.0.1
 * (and a unix socket inside that directory), for tests and benchmarks: initdb, then postgres in
 * the foreground as a child (as root, dropped to that account by setpriv). fsync stays on unless
 * `durable: false` (tests that never crash the server itself: CREATE DATABASE is then 10x faster), so a
 * benchmark measures commits as an operator's server makes them.
 */
export async function startThrowawayPostgres(options: { binDir?: string; maxConnections?: number; durable?: boolean } = {}): Promise<ThrowawayPostgres> {
  const bin = options.binDir ?? POSTGRES_BIN_DIR;
  if (!postgresAvailable(bin)) throw new QuantError('UNSUPPORTED', `PostgreSQL binaries not found in ${bin}`);
  const account = serverAccount();
  const dir = mkdtempSync(join(tmpdir(), 'quantkit-pg-'));
  const data = join(dir, 'data');
  if (account !== null) chownSync(dir, account.uid, account.gid);
  // setpriv execs the command itself (runuser would stay its parent and not pass signals on), so
  // stop()'s signal reaches postgres.
  const as = (cmd: string, args: string[]): [string, string[]] =>
    account === null ? [cmd, args] : ['setpriv', [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--clear-groups', cmd, ...args]];
  const serve = (cmd: string, args: string[]): [string, string[]] => {
    const [c, a] = as(cmd, args);
    return c === 'setpriv' ? [c, ['--pdeathsig', 'SIGINT', ...a]] : existsSync('/usr/bin/setpriv') ? ['setpriv', ['--pdeathsig', 'SIGINT', c, ...a]] : [c, a];
  };
  try {
    const [c, a] = as(join(bin, 'initdb'), ['-D', data, '-U', 'quantkit', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    execFileSync(c, a, { stdio: 'pipe', cwd: dir });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new QuantError('IO_ERROR', `initdb failed: ${stderr || (e as Error).message}`, { cause: e });
  }
  const port = await freePort();
  // --pdeathsig: a test run that is killed takes its server with it rather than leaving it running.
  const [c, a] = serve(join(bin, 'postgres'), [
    '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir,
    '-c', `max_connections=${options.maxConnections ?? 200}`, '-c', 'shared_buffers=32MB', '-c', 'log_min_messages=warning',
    ...(options.durable === false ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ]);
  const child: ChildProcess = spawn(c, a, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `postgres://quantkit@127.0.0.1:${port}/postgres`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // fast shutdown: active sessions are ended, no waiting for clients
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready once it accepts a connection: pg_isready polls without a client library.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new QuantError('IO_ERROR', `postgres exited at start: ${log.trim()}`);
    }
    try {
      execFileSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q'], { stdio: 'ignore' });
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new QuantError('IO_ERROR', `postgres did not accept connections within 30 s: ${log.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    urlOf: (database) => `postgres://quantkit@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    stop: () => (stopping ??= stop()),
  };
}
