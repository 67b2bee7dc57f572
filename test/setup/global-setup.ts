// Vitest's global setup: the tests that run dist/ (the CLI as a process, worker threads, the offload
// worker, the served dashboard) must run the current sources, so a dist/ older than src/ is rebuilt
// here before any test starts, and a failed build fails the run. `npm test` builds just before, so
// there this is a stat of each file and nothing more. At the end, one line per group of tests that
// skipped because a tool outside the repository is absent.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { TestProject } from 'vitest/node';
import { OPTIONAL_GROUPS, type OptionalGroup } from './optional-tools.js';

const REPO = resolve(import.meta.dirname, '../..');
/** Files outside src/ whose change changes the build. */
const BUILD_CONFIG = ['tsconfig.json', 'tsconfig.build.json', 'vite.web.config.ts', 'scripts/build-wasm.mjs', 'scripts/build-cli.mjs'];

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

function mtime(path: string): number {
  return statSync(path).mtimeMs;
}

/**
 * Why dist/ does not hold a build of the current sources, or undefined when it does. tsc rewrites
 * every output on each build and vite writes dist/web last, so each source's output and the page
 * must be at least as new as the newest input (tests are not inputs). Only expected outputs are
 * looked at: a leftover output of a deleted source does not count. src/web is bundled by vite into
 * dist/web (which it empties first), so its sources are checked through dist/web/index.html.
 */
export function staleReason(repo: string = REPO): string | undefined {
  const src = join(repo, 'src');
  const dist = join(repo, 'dist');
  const web = join(src, 'web') + sep;
  const config = BUILD_CONFIG.map((f) => join(repo, f)).filter((f) => existsSync(f));
  const inputs = [...walk(src).filter((f) => !f.endsWith('.test.ts')), ...config];
  let newest = inputs[0];
  for (const f of inputs) if (mtime(f) > mtime(newest)) newest = f;
  const since = mtime(newest);
  const outputs = [join(dist, 'web/index.html')];
  for (const f of inputs) {
    if (!f.startsWith(src + sep) || f.startsWith(web) || !f.endsWith('.ts') || f.endsWith('.d.ts') || f.includes(`${sep}assembly${sep}`)) continue;
    outputs.push(join(dist, relative(src, f)).replace(/\.ts$/, '.js'));
  }
  for (const out of outputs) {
    if (!existsSync(out)) return `${relative(repo, out)} is missing`;
    if (mtime(out) < since) return `${relative(repo, out)} is older than ${relative(repo, newest)}`;
  }
  return undefined;
}

/** One line per group that skipped: its tool is absent and one of its files ran (paths relative, `/` separated). */
export function skipNotices(ran: readonly string[], groups: readonly OptionalGroup[] = OPTIONAL_GROUPS): string[] {
  return groups.filter((g) => !g.present() && ran.some((f) => g.files.test(f))).map((g) => `${g.name} skipped: ${g.missing}`);
}

export default function setup(project: TestProject): () => void {
  const reason = staleReason();
  if (reason !== undefined) {
    console.log(`test setup: ${reason}; running npm run build`);
    const build = spawnSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'inherit' });
    if (build.status !== 0) throw new Error(`npm run build failed (${build.error?.message ?? `exit ${build.status}`}): the tests run dist/; fix the build, then rerun`);
    const still = staleReason();
    if (still !== undefined) throw new Error(`dist/ is still stale after npm run build: ${still}`);
  }
  return () => {
    const ran = project.vitest.state.getFiles().map((f) => relative(REPO, f.filepath).split(sep).join('/'));
    for (const line of skipNotices(ran)) console.log(line);
  };
}
