// Preloaded with `node --import`: records every module the process loads, one URL or path a line,
// in the file $QUANTKIT_IMPORT_LOG. ES modules (the CLI's bundled entry and chunks, packages,
// node: builtins imported by name) are seen by a load hook (on the hooks thread); CommonJS ones
// loaded with require() are listed from the require cache when the process exits, and Node's
// public builtins loaded after this preload (node:child_process required by a bundled package, ...)
// from process.moduleLoadList.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const log = process.env.QUANTKIT_IMPORT_LOG;
if (!log) throw new Error('record-imports.mjs needs QUANTKIT_IMPORT_LOG');
register('./record-imports-hooks.mjs', import.meta.url);
const cache = createRequire(import.meta.url).cache;
// Those loaded by now are Node's own or this recorder's (register() starts the hooks thread).
const before = new Set(process.moduleLoadList);
process.on('exit', () => {
  const builtins = process.moduleLoadList
    .filter((m) => !before.has(m) && m.startsWith('NativeModule ') && !m.includes('internal/'))
    .map((m) => `node:${m.slice('NativeModule '.length)}`);
  const paths = [...Object.keys(cache), ...builtins];
  if (paths.length > 0) appendFileSync(log, `${paths.join('\n')}\n`);
});
