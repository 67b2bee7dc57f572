import { Option } from 'commander';
import { resolveServerOptions, SERVER_DEFAULTS, SERVER_ENV } from '../../server/server-options.js';
import { startServer } from '../../server/start-server.js';
import type { CliCommand } from '../cli-command.js';

interface ServeFlags {
  port?: string;
  host?: string;
  dataDir?: string;
  apiKey?: string;
  corsOrigins?: string;
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
      .addOption(new Option('--port <n>', `TCP port, 0 for any free one ${env('port')}`).default(undefined, String(SERVER_DEFAULTS.port)))
      .addOption(new Option('--host <addr>', `address to bind; 0.0.0.0 in a container ${env('host')}`).default(undefined, SERVER_DEFAULTS.host))
      .addOption(new Option('--data-dir <dir>', `where the SQLite instance store lives ${env('dataDir')}`).default(undefined, SERVER_DEFAULTS.dataDir))
      .addOption(new Option('--api-key <key>', `require Authorization: Bearer <key> on every route but / ${env('apiKey')}`))
      .addOption(new Option('--cors-origins <list>', `comma-separated origins allowed from browsers, * for any; default none ${env('corsOrigins')}`))
      .addOption(new Option('--body-limit <size>', `largest request body, e.g. 64MiB; 413 beyond ${env('bodyLimit')}`).default(undefined, '256MiB'))
      .addOption(new Option('--offload-threshold <n>', `arrays of at least n elements run in a worker thread ${env('offloadThreshold')}`).default(undefined, String(SERVER_DEFAULTS.offloadThreshold)))
      .addOption(new Option('--log-level <level>', `pino level: info (a line per request), warn, silent ${env('logLevel')}`).default(undefined, 'info'))
      .addHelpText('after', '\nPrefer QUANTKIT_API_KEY to --api-key: command lines are visible to other local users.\n\nExample:\n  QUANTKIT_API_KEY=secret quantkit serve --port 8000 --data-dir ./data')
      .action(async (flags: ServeFlags) => {
        const options = resolveServerOptions(flags, io.env);
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
