import { CommanderError } from './commander.js';
import { isQuantError } from '../core/errors.js';

/** Exit statuses of the quantkit CLI (they live here only: the library knows error codes, not exits). */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, INTERRUPTED: 130 } as const;

/**
 * A mistake in the command line itself (a bad option value, options that contradict each other),
 * found before any file is read: exit 2, like commander's own parse errors.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The exit status for an error: 2 for usage, 1 for everything else (bad files, bad data, I/O). */
export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError) return EXIT.USAGE;
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  return EXIT.FAILURE;
}

/**
 * The one line printed for an error. Library and usage errors are expected: their message alone.
 * Anything else is a bug: its message, and its stack only when QUANTKIT_DEBUG=1.
 */
export function formatError(e: unknown, debug: boolean): string {
  if (e instanceof UsageError || isQuantError(e)) return `quantkit: ${oneLine(e.message)}`;
  if (e instanceof CommanderError) return `quantkit: ${oneLine(e.message.replace(/^error: /, ''))}`;
  const message = e instanceof Error ? e.message : String(e);
  if (debug && e instanceof Error && e.stack) return `quantkit: internal error: ${e.stack}`;
  return `quantkit: internal error: ${oneLine(message)} (run with QUANTKIT_DEBUG=1 for details)`;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
