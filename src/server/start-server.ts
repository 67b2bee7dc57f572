import type { FastifyInstance } from 'fastify';
import { SqliteStore } from '../node/store/sqlite-store.js';
import { buildApp } from './app.js';
import type { ServerOptions } from './server-options.js';

export interface RunningServer {
  app: FastifyInstance;
  /** http://host:port as bound (the real port when 0 was asked for). */
  url: string;
  /** Stops accepting, lets in-flight requests finish, saves and closes the store. Idempotent. */
  close(): Promise<void>;
}

/** Opens the store in options.dataDir, builds the app and listens. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const store = new SqliteStore(options.dataDir);
  let app: FastifyInstance;
  try {
    app = await buildApp({ ...options, store });
  } catch (e) {
    store.close();
    throw e;
  }
  await app.listen({ port: options.port, host: options.host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return {
    app,
    url: `http://${host}:${port}`,
    close: () => (closing ??= app.close()),
  };
}
