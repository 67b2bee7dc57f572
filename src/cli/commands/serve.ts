import { Option } from 'commander';
import { resolveServerOptions, SERVER_DEFAULTS, SERVER_ENV } from '../../server/server-options.js';
import { isQuantError } from '../../core/errors.js';
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
      .addHelpText('after', '\nPrefer QUANTKIT_API_KEY to --api-key: command lines are visible to other local users.\n\nExample:\n  QUANTKIT_API_KEY=secret quantkit serve --port 8000 --data-dir ./data')
      .action(async (flags: ServeFlags) => {
        let options;
        try {
          options = resolveServerOptions(flags, io.env);
        } catch (e) {
          // A bad flag or variable is a usage error (exit 2), found before anything listens.
          throw isQuantError(e) ? new UsageError(e.message) : e;
        }
        // Loaded here, not at start-up: fastify and SQLite cost ~100 ms that other commands never need.
        const { startServer } = await import('../../server/start-server.js');
        const server = await startServer(options);
        io.stdout.write(`quantkit serve: listening on ${server.url} (data in ${options.dataDir})\n`);
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
