import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';

/** The built CLI, which the process suites start as users do (`quantkit serve`). */
export const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');

export interface ServeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** The URL it printed once listening. */
  readonly url: string;
  /** Everything on its stderr so far. */
  stderr(): string;
  /** Its stderr once it matches `until` (or once stderr ends): stdout and stderr are two pipes, so a line written before "listening" may arrive after it. */
  stderrUntil(until: RegExp): Promise<string>;
}

/**
 * Starts `quantkit serve --port 0 --host 127.0.0.1 ...args` and resolves once it listens; rejects,
 * with its stderr, when it exits first. `children` collects it so the suite can SIGKILL leftovers.
 */
export async function startServe(args: readonly string[], children: ChildProcessWithoutNullStreams[], env: Record<string, string> = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--host', '127.0.0.1', ...args], { env: { ...process.env, ...env } });
  children.push(child);
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`quantkit serve ${args.join(' ')} exited (${code}) before listening: ${err}`)));
  });
  const stderrUntil = (until: RegExp) =>
    new Promise<string>((resolve) => {
      const check = () => {
        if (!until.test(err)) return false;
        resolve(err);
        return true;
      };
      if (!check()) child.stderr.on('data', check).on('end', () => resolve(err));
    });
  return { child, url, stderr: () => err, stderrUntil };
}

/** How the process ended, once it has. */
export function exited(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
}

/** SIGKILLs every child still running (a suite's afterEach/afterAll). */
export function killLeftovers(children: ChildProcessWithoutNullStreams[]): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
