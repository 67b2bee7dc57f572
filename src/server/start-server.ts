import type { FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import { openStore } from '../node/store/open-store.js';
import { buildApp } from './app.js';
import { QuantError } from '../core/errors.js';
import { DEFAULT_DRAIN_TIMEOUT_MS } from './drain-timeout.js';
import type { ServerOptions } from './server-options.js';
import { SERVER_ENV } from './server-options.js';

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
  try {
    await app.listen({ port: options.port, host: options.host });
  } catch (e) {
    await app.close(); // closes the store too (the app's onClose)
    throw listenError(e, options);
  }
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

/**
 * A port already taken (or not ours to bind) says which port and how to choose another, rather
 * than node's `listen EADDRINUSE: address already in use 127.0.0.1:8000`.
 */
function listenError(e: unknown, options: ServerOptions): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const where = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  const choose = `choose another with ${SERVER_ENV.port}=<n> (or --port <n> on the command line; 0 picks any free port)`;
  if (code === 'EADDRINUSE') return new QuantError('IO_ERROR', `port ${options.port} is already in use (${where}): stop what listens there, or ${choose}`, { cause: e });
  if (code === 'EACCES') return new QuantError('IO_ERROR', `no permission to listen on port ${options.port} (${where}; ports below 1024 need privileges): ${choose}`, { cause: e });
  if (code === 'EADDRNOTAVAIL') return new QuantError('IO_ERROR', `cannot listen on ${where}: the address is not one of this machine's (set ${SERVER_ENV.host} or --host)`, { cause: e });
  return e;
}
