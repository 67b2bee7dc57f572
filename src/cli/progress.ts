import { createRequire } from 'node:module';
import type { CliIo } from './cli-io.js';

// Required on first use (cli-progress is CommonJS, so synchronously): most runs draw no bar.
const requireModule = createRequire(import.meta.url);

/** Work shorter than this finishes before a bar would be worth drawing. */
export const PROGRESS_MIN_BYTES = 64 * 1024 * 1024;

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

const SILENT: Progress = { update() {}, stop() {} };

/**
 * A progress bar on stderr for long work, and only when stderr is a terminal: piped or redirected
 * output (scripts, CI, tests) never sees control characters, and stdout stays clean for data.
 */
export function createProgress(io: CliIo, label: string, bytes: number): Progress {
  if (!io.stderr.isTTY || bytes < PROGRESS_MIN_BYTES) return SILENT;
  const cliProgress = requireModule('cli-progress') as typeof import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { stream: io.stderr, format: `${label} [{bar}] {percentage}% | {eta_formatted} left`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
