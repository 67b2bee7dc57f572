/**
 * How long a stop (SIGTERM/SIGINT) lets requests in flight finish before it cuts their
 * connections: long enough for any ordinary request, short enough that a client stalled half-way
 * through a body cannot hold a restart. Its own module so the CLI's help can say it without
 * loading the server.
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5000;
