// The load hook of record-imports.mjs: appends each ES module's URL to $QUANTKIT_IMPORT_LOG.
import { appendFileSync } from 'node:fs';

export async function load(url, context, nextLoad) {
  appendFileSync(process.env.QUANTKIT_IMPORT_LOG, `${url}\n`);
  return nextLoad(url, context);
}
