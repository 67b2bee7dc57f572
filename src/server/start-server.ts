import type { FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import { openStore } from '../node/store/open-store.js';
import { buildApp } from './app.js';
import { DEFAULT_DRAIN_TIMEOUT_MS } from './drain-timeout.js';
import type { ServerOptions } from './server-options.js';

export interface StartServerOptions {
  /**
   * Milliseconds close() lets requests in flight finish (default DEFAULT_DRAIN_TIMEOUT_MS). A client
   * that stalls half-way through a body would otherwise hold the stop for as long as it likes; past
   * this, the remaining connections are destroyed (none of their requests was answered, so nothing
   * acknowledged is lost) and the stop goes on: last-used parameters saved, store closed.
   */
  drainTimeoutMs?: number;
  /** Told how many connections a drain timeout cut (the CLI prints it). */
  onDrainTimeout?: (connections: number) => void;
}

export interface RunningServer {
  app: FastifyInstance;
  /** http://host:port as bound (the real port when 0 was asked for). */
  url: string;
  /** Stops accepting, lets in-flight requests finish (within the drain timeout), saves and closes the store. Idempotent. */
  close(): Promise<void>;
  /** The replica id in the logs. */
  replicaId: string;
}

/** Opens the store (PostgreSQL at options.databaseUrl, else SQLite in options.dataDir), builds the app and listens. */
export async function startServer(options: ServerOptions, startOptions: StartServerOptions = {}): Promise<RunningServer> {
  const replicaId = options.replicaId ?? `${hostname()}-${process.pid}`;
  // Pool warnings before the app's logger exists go to stderr, later ones to the log.
  let warn = (message: string): void => void process.stderr.write(`quantkit serve: ${message}\n`);
  const store = await openStore({ ...options, replicaId }, (message) => warn(message));
  let app: FastifyInstance;
  try {
    app = await buildApp({ ...options, store, replicaId });
  } catch (e) {
    await store.close();
    throw e;
  }
  warn = (message) => app.log.warn(message);
  await app.listen({ port: options.port, host: options.host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const drainMs = startOptions.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  // Known only to say how many a drain timeout cuts; closeAllConnections is what cuts them.
  const open = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  const close = async (): Promise<void> => {
    const stopped = app.close();
    const timer = setTimeout(() => {
      app.log.warn({ connections: open.size }, `drain timeout (${drainMs} ms): closing the remaining connections`);
      startOptions.onDrainTimeout?.(open.size);
      app.server.closeAllConnections();
    }, drainMs);
    try {
      await stopped;
    } finally {
      clearTimeout(timer);
    }
  };
  let closing: Promise<void> | undefined;
  return {
    app,
    url: `http://${host}:${port}`,
    close: () => (closing ??= close()),
    replicaId,
  };
}
