import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

// Beyond vitest's 5 s default on a 2-core machine: this file starts real `quantkit serve` processes.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

// A real process: the built CLI (the tests' global setup builds it when stale), on an ephemeral loopback port.
const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'quantkit-hosts-'));
const children: ChildProcessWithoutNullStreams[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function serve(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcessWithoutNullStreams; port: number }> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dir, '--log-level', 'silent', ...args], { env: { ...process.env, ...env } });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${err}`)));
  });
  return { child, port };
}

/** GET path with the Host header a browser would send for `host` (fetch does not let one set it). */
function statusFor(port: number, host: string, path = '/instances'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('quantkit serve: allowed hosts', () => {
  it('--allowed-hosts (or QUANTKIT_ALLOWED_HOSTS) adds names to localhost and IP addresses; others get 421', async () => {
    for (const [args, env] of [[['--allowed-hosts', 'quant.example,.corp.example'], {}], [[], { QUANTKIT_ALLOWED_HOSTS: 'quant.example, .corp.example' }]] as const) {
      const s = await serve([...args], env);
      expect(await statusFor(s.port, `localhost:${s.port}`)).toBe(200);
      expect(await statusFor(s.port, `127.0.0.1:${s.port}`)).toBe(200);
      expect(await statusFor(s.port, 'quant.example')).toBe(200);
      expect(await statusFor(s.port, 'api.corp.example:8443')).toBe(200);
      expect(await statusFor(s.port, `evil.example:${s.port}`)).toBe(421);
      s.child.kill('SIGTERM');
      await new Promise((ok) => s.child.once('exit', ok));
    }
  });
});
