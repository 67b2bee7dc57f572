import { Option } from '../commander.js';
import { resolveServerOptions, SERVER_DEFAULTS, SERVER_ENV } from '../../server/server-options.js';
import { isQuantError } from '../../core/errors.js';
import { DEFAULT_DRAIN_TIMEOUT_MS } from '../../server/drain-timeout.js';
import type { CliCommand } from '../cli-command.js';
import { UsageError } from '../exit-codes.js';

interface ServeFlags {
  port?: string;
  host?: string;
  dataDir?: string;
  apiKey?: string;
  corsOrigins?: string;
  allowedHosts?: string;
  bodyLimit?: string;
  offloadThreshold?: string;
  logLevel?: string;
  databaseUrl?: string;
  databasePoolSize?: string;
  replicaId?: string;
  drainTimeout?: string;
}

/** Not a ServerOptions field: it governs how the process stops, not what the app serves. */
const DRAIN_TIMEOUT_ENV = 'QUANTKIT_DRAIN_TIMEOUT';

/** Seconds (decimals allowed, 0..3600) -> milliseconds; a bad value is a usage error naming where it came from. */
function drainTimeoutMs(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): number | undefined {
  const fromEnv = env[DRAIN_TIMEOUT_ENV];
  const v = flag ?? (fromEnv === '' ? undefined : fromEnv);
  if (v === undefined) return undefined;
  const s = Number(v);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(v) || !(s <= 3600)) {
    throw new UsageError(`${flag !== undefined ? '--drain-timeout' : DRAIN_TIMEOUT_ENV}: expected seconds in 0..3600, got ${JSON.stringify(v)}`);
  }
  return Math.round(s * 1000);
}

/** `quantkit serve`: the Quantizer API service until SIGTERM/SIGINT, then a graceful stop. */
export const serveCommand: CliCommand = {
  name: 'serve',
  register(program, io) {
    const env = (k: keyof typeof SERVER_ENV) => `(env ${SERVER_ENV[k]})`;
    program
      .command('serve')
      .description('run the Quantizer REST API (npm start)')
      .addOption(new Option('--port <n>', `TCP port, 0 for any free one; default ${SERVER_DEFAULTS.port} ${env('port')}`))
      .addOption(new Option('--host <addr>', `address to bind; default ${SERVER_DEFAULTS.host}, 0.0.0.0 in a container ${env('host')}`))
      .addOption(new Option('--data-dir <dir>', `where the SQLite instance store lives; default ${SERVER_DEFAULTS.dataDir} ${env('dataDir')}`))
      .addOption(new Option('--api-key <key>', `require Authorization: Bearer <key> on every route but / ${env('apiKey')}`))
      .addOption(new Option('--cors-origins <list>', `comma-separated origins allowed from browsers, * for any; default none ${env('corsOrigins')}`))
      .addOption(new Option('--allowed-hosts <list>', `comma-separated host names answered besides localhost, IP addresses and the bound address (.example.com: subdomains too, * any); others get 421 ${env('allowedHosts')}`))
      .addOption(new Option('--body-limit <size>', `largest request body, e.g. 64MiB; default 256MiB, 413 beyond ${env('bodyLimit')}`))
      .addOption(new Option('--offload-threshold <n>', `calibrations of at least n elements run in a worker thread; default ${SERVER_DEFAULTS.offloadThreshold} ${env('offloadThreshold')}`))
      .addOption(new Option('--log-level <level>', `pino level: info (default, a line per request), warn, silent ${env('logLevel')}`))
      .addOption(new Option('--database-url <url>', `postgres://user:password@host:port/db: keep instances in PostgreSQL, shared by every replica (default: SQLite in --data-dir) ${env('databaseUrl')}`))
      .addOption(new Option('--database-pool-size <n>', `pooled PostgreSQL connections per replica; default ${SERVER_DEFAULTS.databasePoolSize} ${env('databasePoolSize')}`))
      .addOption(new Option('--replica-id <id>', `named in every log line; default host name and process id ${env('replicaId')}`))
      .addOption(new Option('--drain-timeout <seconds>', `at SIGTERM/SIGINT, how long requests in flight may take before their connections are cut; default ${DEFAULT_DRAIN_TIMEOUT_MS / 1000} (env ${DRAIN_TIMEOUT_ENV})`))
      .addHelpText('after', '\nPrefer QUANTKIT_API_KEY to --api-key: command lines are visible to other local users.\n\nExample:\n  QUANTKIT_API_KEY=secret quantkit serve --port 8000 --data-dir ./data')
      .action(async (flags: ServeFlags) => {
        let options;
        try {
          options = resolveServerOptions(flags, io.env);
        } catch (e) {
          // A bad flag or variable is a usage error (exit 2), found before anything listens.
          throw isQuantError(e) ? new UsageError(e.message) : e;
        }
        const drainMs = drainTimeoutMs(flags.drainTimeout, io.env);
        // Loaded here, not at start-up: fastify and SQLite cost ~100 ms that other commands never need.
        const { startServer } = await import('../../server/start-server.js');
        const server = await startServer(options, {
          drainTimeoutMs: drainMs,
          onDrainTimeout: (n) => io.stderr.write(`quantkit serve: drain timeout, closing ${n} connection(s) still open\n`),
        });
        // Said here too, whatever the log level: the service runs without these instances until someone acts.
        for (const r of server.app.registry.unloadable()) {
          io.stderr.write(`quantkit serve: stored instance '${r.id}' cannot be loaded (${r.reason}); kept unchanged, serving the others\n`);
        }
        io.stdout.write(`quantkit serve: listening on ${server.url} (${options.databaseUrl !== undefined ? `instances in PostgreSQL, replica ${server.replicaId}` : `data in ${options.dataDir}`})\n`);
        await new Promise<void>((resolve) => {
          const stop = (signal: NodeJS.Signals) => {
            io.stderr.write(`quantkit serve: ${signal}, finishing in-flight requests\n`);
            server.close().then(resolve, (e: unknown) => {
              io.stderr.write(`quantkit serve: error while closing: ${(e as Error).message}\n`);
              resolve();
            });
          };
          // The CLI's own handlers exit at once (right for file commands); a server drains first.
          for (const s of ['SIGINT', 'SIGTERM'] as const) {
            process.removeAllListeners(s);
            process.once(s, stop);
          }
        });
      });
  },
};
