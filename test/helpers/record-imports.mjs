// Preloaded with `node --import`: records every module the process loads, one URL or path a line,
// in the file $QUANTKIT_IMPORT_LOG. ES modules are seen by a load hook (on the hooks thread);
// CommonJS ones loaded with require() are listed from the require cache when the process exits.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const log = process.env.QUANTKIT_IMPORT_LOG;
if (!log) throw new Error('record-imports.mjs needs QUANTKIT_IMPORT_LOG');
register('./record-imports-hooks.mjs', import.meta.url);
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => {
  const paths = Object.keys(cache);
  if (paths.length > 0) appendFileSync(log, `${paths.join('\n')}\n`);
});
