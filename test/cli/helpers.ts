import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { NpyArray } from '../../src/formats/npy.js';
import { decodeNpy, encodeNpy } from '../../src/formats/npy.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(REPO, 'dist/cli/main.js');
export const FIXTURES = join(REPO, 'test/fixtures/npy/arrays');

/** The tests run the built CLI, as a user would; the tests' global setup builds it when stale. */
export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc -p tsconfig.build.json\` (npm test does) first`);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, QUANTKIT_DEBUG: '', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(): { dir: string; path(name: string): string; files(): string[]; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'quantkit-cli-'));
  return {
    dir,
    path: (name) => join(dir, name),
    files: () => readdirSync(dir).sort(),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function writeNpy(path: string, arr: NpyArray): string {
  writeFileSync(path, encodeNpy(arr));
  return path;
}

export function readNpy(path: string): NpyArray {
  return decodeNpy(new Uint8Array(readFileSync(path)));
}

export function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

/** Deterministic float32 test data with exact .5 ties, zeros of both signs and a spread of magnitudes. */
export function sampleData(n: number, seed = 1): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const u = (s >>> 0) / 4294967296;
    x[i] = i % 17 === 0 ? (i % 2 ? -0 : 0) : i % 13 === 0 ? (i % 7) - 3.5 : (u - 0.4) * (1 + (i % 5) * 3);
  }
  return x;
}

/** The line a successful .npy quantize ends with on stderr (shape, dtype, scheme, scales, time). */
export const QUANTIZE_SUMMARY = /^quantkit: \S.* -> \S.*: scale .*, zero point .*, in \d+\.\d\d s$/;

/** stderr without quantize's summary line: what a run said besides reporting success (warnings, notes). */
export function besidesSummary(stderr: string): string {
  return stderr
    .split(/(?<=\n)/)
    .filter((line) => !QUANTIZE_SUMMARY.test(line.trimEnd()))
    .join('');
}

/**
 * A refused command: exit `status`, nothing on stdout, one `quantkit: ` line on stderr matching
 * `message`, and the temp dir as it was (no output written, no temp file left behind).
 */
export function expectRefusal(dir: { files(): string[] }, args: string[], status: number, message: RegExp): void {
  const before = dir.files();
  const r = runCli(args);
  expect(r.code, r.stderr).toBe(status);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^quantkit: /);
  expect(lines[0]).toMatch(message);
  expect(dir.files()).toEqual(before);
}
