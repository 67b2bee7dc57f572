import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { skipNotices, staleReason } from './global-setup.js';
import type { OptionalGroup } from './optional-tools.js';

// A miniature checkout: sources, a build of them, and the clock set file by file.
let repo: string;
const T0 = new Date('2026-01-01T00:00:00Z').getTime() / 1000;

function file(path: string, at: number): void {
  const p = join(repo, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, '');
  utimesSync(p, T0 + at, T0 + at);
}

beforeEach(() => {
  repo = mkdtempSync(join(tmpdir(), 'quantkit-setup-'));
  file('tsconfig.build.json', 0);
  file('src/core/a.ts', 1);
  file('src/core/a.test.ts', 1);
  file('src/core/kernels/kernels-wasm.generated.ts', 2);
  file('src/core/kernels/assembly/kernels.ts', 1);
  file('src/web/main.ts', 1);
  file('dist/core/a.js', 10);
  file('dist/core/kernels/kernels-wasm.generated.js', 10);
  file('dist/web/index.html', 11);
});
afterEach(() => rmSync(repo, { recursive: true, force: true }));

describe('staleReason: whether dist/ holds a build of the sources', () => {
  it('is fresh after a build, whatever tests, leftovers of deleted sources or the bundled page sources lack', () => {
    file('dist/core/deleted-long-ago.js', 0);
    file('src/core/a.test.ts', 50);
    expect(staleReason(repo)).toBeUndefined();
  });

  it('is stale when a source, an AssemblyScript kernel, the page or the build config changed after the build', () => {
    for (const [path, output] of [
      ['src/core/a.ts', 'dist/web/index.html'],
      ['src/core/kernels/assembly/kernels.ts', 'dist/web/index.html'],
      ['src/web/main.ts', 'dist/web/index.html'],
      ['tsconfig.build.json', 'dist/web/index.html'],
    ]) {
      file(path, 20);
      expect(staleReason(repo)).toBe(`${output} is older than ${path}`);
      file('dist/web/index.html', 30);
      expect(staleReason(repo)).toMatch(/^dist\/core\/.* is older than /);
      file('dist/core/a.js', 30);
      file('dist/core/kernels/kernels-wasm.generated.js', 30);
      expect(staleReason(repo)).toBeUndefined();
      file('dist/web/index.html', 11);
      file('dist/core/a.js', 10);
      file('dist/core/kernels/kernels-wasm.generated.js', 10);
      file(path, 1);
    }
  });

  it('is stale when a source has no output (a new file, or no build at all)', () => {
    file('src/node/b.ts', 1);
    expect(staleReason(repo)).toBe('dist/node/b.js is missing');
    rmSync(join(repo, 'dist'), { recursive: true });
    expect(staleReason(repo)).toBe('dist/web/index.html is missing');
  });
});

describe('skipNotices: one line per group that skipped', () => {
  const groups: OptionalGroup[] = [
    { name: 'browser tests', files: /^test\/web\//, present: () => false, missing: 'no browser; install one' },
    { name: 'model tests', files: /^test\/onnx\/models\.test\.ts$/, present: () => false, missing: 'no models' },
    { name: 'tool tests', files: /^test\/tool\//, present: () => true, missing: 'no tool' },
  ];

  it('names each absent group whose files ran, once however many of its files ran', () => {
    const ran = ['test/web/a.test.ts', 'test/web/b.test.ts', 'test/tool/c.test.ts', 'src/core/x.test.ts'];
    expect(skipNotices(ran, groups)).toEqual(['browser tests skipped: no browser; install one']);
    expect(skipNotices([...ran, 'test/onnx/models.test.ts'], groups)).toEqual(['browser tests skipped: no browser; install one', 'model tests skipped: no models']);
  });

  it('says nothing for a run that did not include a group', () => {
    expect(skipNotices(['src/core/x.test.ts'], groups)).toEqual([]);
  });
});
