#!/usr/bin/env node
// Bundles the CLI: dist/cli/main.js (tsc's output, ~60 ES modules on a command's path) becomes
// one small entry and a few chunks under dist/cli/chunks/, each command's code loaded by import()
// only when a command line names it (the lazy boundaries of src/cli/commands/index.ts and of each
// command stay chunk boundaries). Node 20 has no compile cache for ES modules: every module is a
// file resolved, read, compiled and linked on every command line, and that, not the work, was most
// of a small command's start-up.
//
// Everything else in dist/ stays as tsc wrote it, because it is loaded by path at run time: the
// worker entries (dist/node/workers/*, dist/server/offload/*), the dashboard (dist/web), and the
// library's entries. So that such paths still resolve from a bundled module, every
// `import.meta.url` in a bundled module is rewritten to the URL of that module's own file in
// dist/ (relative to the chunk, so the tree can move): `new URL('./kernel-worker.js',
// import.meta.url)` names the same file it named before bundling.
//
// Packages in node_modules stay external (native addons, and the ones a command loads only when it
// runs), except commander, which every command line loads: bundled, it is part of the entry
// instead of seven CommonJS files read through the module loader.
//
// Writes dist/cli/chunks/modules.json: for each chunk, the dist/ files it holds (what
// test/cli/startup-imports.test.ts maps loaded chunks back to). Run after tsc (npm run build).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// rolldown is vite's bundler (vite 8 depends on it): resolved from vite, so it is the one vite runs.
const rolldownPath = createRequire(import.meta.resolve('vite')).resolve('rolldown');
const { build } = await import(pathToFileURL(rolldownPath).href);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const outDir = join(dist, 'cli');
const entry = join(outDir, 'main.js');
const chunksDir = join(outDir, 'chunks');
/** The first line of the bundled entry: also how a second run without tsc in between is caught. */
const BANNER = '// quantkit CLI, bundled by scripts/build-cli.mjs from tsc output in dist/';
/** Bare specifiers bundled into the CLI (pure JavaScript, loaded by every command line). */
const BUNDLED_PACKAGES = new Set(['commander']);
const PLACEHOLDER = '__quantkit_module_url__';

if (!existsSync(entry)) throw new Error(`${relative(root, entry)} is missing: run tsc -p tsconfig.build.json first (npm run build does)`);
if (readFileSync(entry, 'utf8').slice(0, 200).includes(BANNER)) {
  throw new Error(`${relative(root, entry)} is already the bundle: run tsc -p tsconfig.build.json first (npm run build does)`);
}

const toPosix = (p) => p.split(sep).join('/');

/** Every `import.meta.url` of a dist/ module, as the URL of that module's file (see the header). */
const moduleUrls = {
  name: 'quantkit-module-urls',
  transform(code, id) {
    if (!id.startsWith(dist + sep) || !code.includes('import.meta.url')) return null;
    const distPath = toPosix(relative(dist, id));
    return { code: code.replaceAll('import.meta.url', `"${PLACEHOLDER}:${distPath}"`), map: null };
  },
  renderChunk(code, chunk) {
    if (!code.includes(PLACEHOLDER)) return null;
    const chunkDir = dirname(join(outDir, chunk.fileName));
    const out = code.replace(new RegExp(`(["'])${PLACEHOLDER}:([^"']+)\\1`, 'g'), (_m, _q, distPath) => {
      let rel = toPosix(relative(chunkDir, join(dist, distPath)));
      if (!rel.startsWith('.')) rel = `./${rel}`;
      return `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
    });
    return { code: out, map: null };
  },
};

/**
 * commander requires node:child_process when it loads, for subcommands that are separate
 * executables; quantkit has none, so in the bundle commander gets a stand-in that requires it on
 * first use (it never is): Node's child_process and the stream modules under it stay unloaded.
 */
const lazyChildProcess = {
  name: 'quantkit-lazy-child-process',
  transform(code, id) {
    if (!/[\\/]node_modules[\\/]commander[\\/]/.test(id) || !code.includes("require('node:child_process')")) return null;
    const lazy = "(() => { let loaded; return new Proxy({}, { get: (_target, key) => (loaded ??= require('node:child_process'))[key] }); })()";
    return { code: code.replace("require('node:child_process')", lazy), map: null };
  },
};

const isExternal = (id) => {
  if (id.startsWith('node:')) return true;
  if (id.startsWith('.') || id.startsWith('/') || id.startsWith('\0')) return false;
  const name = id.startsWith('@') ? id.split('/').slice(0, 2).join('/') : id.split('/')[0];
  return !BUNDLED_PACKAGES.has(name);
};

rmSync(chunksDir, { recursive: true, force: true });
const t0 = performance.now();
const { output } = await build({
  input: { main: entry },
  platform: 'node',
  external: isExternal,
  plugins: [moduleUrls, lazyChildProcess],
  logLevel: 'warn',
  output: {
    dir: outDir,
    format: 'esm',
    banner: BANNER,
    entryFileNames: '[name].js',
    chunkFileNames: 'chunks/[name]-[hash].js',
    sourcemap: false,
  },
});

const modules = {};
for (const o of output) {
  if (o.type !== 'chunk') continue;
  // node_modules may be a link to another tree: a package's modules are named from node_modules/ on.
  const name = (m) => (m.includes(`${sep}node_modules${sep}`) ? `node_modules/${toPosix(m.slice(m.lastIndexOf(`${sep}node_modules${sep}`) + 14))}` : toPosix(relative(root, m)));
  modules[o.fileName] = o.moduleIds.filter((m) => m.startsWith(root + sep) || m.includes(`${sep}node_modules${sep}`)).map(name).sort();
}
writeFileSync(join(chunksDir, 'modules.json'), `${JSON.stringify(modules, null, 1)}\n`);
const chunks = output.filter((o) => o.type === 'chunk').length;
console.log(`build-cli: dist/cli/main.js and ${chunks - 1} chunks in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
