#!/usr/bin/env node
// Runs every bench/*.bench.mjs in this process order, each in its own child so one's heap does not
// disturb another's timings. `--json` makes each print one JSON object; this prints them as one.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const json = args.includes('--json');
const only = args.filter((a) => !a.startsWith('--'));
const all = readdirSync(here).filter((f) => f.endsWith('.bench.mjs'));
const names = all.map((f) => f.replace('.bench.mjs', ''));
// An exact name picks that bench alone ("server" must not also pick "observers"); otherwise a substring.
const files = all
  .filter((f, i) => only.length === 0 || only.some((o) => names[i] === o || (!names.includes(o) && f.includes(o))))
  .sort();
const results = {};
for (const f of files) {
  const r = spawnSync(process.execPath, ['--expose-gc', join(here, f), ...args], {
    stdio: json ? ['ignore', 'pipe', 'inherit'] : 'inherit',
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) {
    console.error(`bench ${f} failed (exit ${r.status})`);
    process.exitCode = 1;
    continue;
  }
  if (json) results[f.replace('.bench.mjs', '')] = JSON.parse(r.stdout);
}
if (json) console.log(JSON.stringify(results, null, 2));
