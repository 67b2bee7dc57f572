import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { assertBuilt, CLI, tempDir } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: the test starts `quantkit serve`, which loads fastify and SQLite.
vi.setConfig({ testTimeout: 30_000 });

const t = tempDir();
let taken: Server;
let port: number;

beforeAll(async () => {
  assertBuilt();
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  port = (taken.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => taken.close(resolve));
  t.cleanup();
});

/** Runs the built CLI without blocking this process (whose socket holds the port). */
function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, QUANTKIT_DEBUG: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('quantkit serve on a port already taken', () => {
  it.each([
    ['--port', (p: number) => ({ args: ['--port', String(p)], env: {} })],
    ['PORT', (p: number) => ({ args: [], env: { PORT: String(p) } })],
  ])('(set by %s) says which port is taken and how to choose another, in one line, exit 1', async (_how, setup) => {
    const { args, env } = setup(port);
    const r = await run(['serve', '--host', '127.0.0.1', '--data-dir', t.path('data'), '--log-level', 'silent', ...args], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `quantkit: port ${port} is already in use (127.0.0.1:${port}): stop what listens there, or choose another with PORT=<n> (or --port <n> on the command line; 0 picks any free port)\n`,
    );
  });
});
