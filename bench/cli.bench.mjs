#!/usr/bin/env node
// The CLI against numpy on a 128 MiB float32 .npy (uint8, per-tensor), each timed end to end as a
// user would run it (process start included for both: node and the CLI's imports, python and
// `import numpy`). The machine is shared and its load swings, so the contenders run alternately,
// round after round, and medians are compared; the load average is printed with them. Also timed:
// the CLI with --workers 2, the CLI on a 16-element file (its start-up), and the library call
// (quantizeNpyFile) in this process, so the split between start-up and work shows.
// Uses the BUILT library (npm run build first). `--json` prints one JSON object.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { median } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const json = process.argv.includes('--json');
const ROUNDS = 7;
const log = (s) => {
  if (!json) console.log(s);
};
const secs = (v) => +v.toFixed(3);

const { encodeNpyHeader } = await import(join(root, 'dist/formats/npy.js'));
const { NpyFileReader } = await import(join(root, 'dist/node/npy-file-reader.js'));
const { quantizeNpyFile } = await import(join(root, 'dist/node/quantize-npy-file.js'));
const { AtomicFile } = await import(join(root, 'dist/node/atomic-file.js'));

const dir = mkdtempSync(join(tmpdir(), 'quantkit-bench-cli-'));
const result = { input_mib: 128, rounds: ROUNDS, loadavg_before: loadavg().map((v) => +v.toFixed(2)) };
try {
  const n = 32 * 1024 * 1024;
  const input = join(dir, 'x.npy');
  const fd = openSync(input, 'w');
  writeSync(fd, encodeNpyHeader('float32', [8192, n / 8192]));
  const chunk = new Float32Array(1 << 20);
  let s = 1;
  for (let i = 0; i < chunk.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    chunk[i] = (s / 4294967296 - 0.3) * 8;
  }
  for (let i = 0; i < n; i += chunk.length) writeSync(fd, new Uint8Array(chunk.buffer));
  closeSync(fd);
  const tiny = join(dir, 'tiny.npy');
  const tfd = openSync(tiny, 'w');
  writeSync(tfd, encodeNpyHeader('float32', [4, 4]));
  writeSync(tfd, new Uint8Array(chunk.buffer, 0, 64));
  closeSync(tfd);

  const cli = join(root, 'dist/cli/main.js');
  const quantize = (file, extra = []) => [process.execPath, [cli, 'quantize', file, '-o', join(dir, 'q.npy'), '--dtype', 'uint8', ...extra]];
  const havePython = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
  const contenders = {
    cli: quantize(input, ['--workers', '1']),
    cli_workers2: quantize(input, ['--workers', '2']),
    cli_startup: quantize(tiny),
    ...(havePython ? { numpy: ['python3', [join(root, 'scripts/bench-cli-numpy.py'), input, join(dir, 'np.npy'), '1']] } : {}),
  };
  if (!havePython) result.numpy_skipped = true;
  const times = Object.fromEntries([...Object.keys(contenders), 'library'].map((k) => [k, []]));
  const numpyInside = [];
  const run = async (name) => {
    if (name === 'library') {
      // The library call alone, in this warm process: what the CLI's process pays besides start-up.
      const t0 = performance.now();
      const reader = NpyFileReader.open(input);
      const out = new AtomicFile(join(dir, 'lib.npy'));
      try {
        await quantizeNpyFile(reader, out, { dtype: 'uint8' });
        out.commit();
      } finally {
        reader.close();
      }
      times.library.push((performance.now() - t0) / 1000);
      return;
    }
    const [cmd, args] = contenders[name];
    const t0 = performance.now();
    const p = spawnSync(cmd, args, { encoding: 'utf8' });
    times[name].push((performance.now() - t0) / 1000);
    if (p.status !== 0) throw new Error(`${name} failed: ${p.stderr}`);
    if (name === 'numpy') numpyInside.push(Number(p.stdout.trim().split('\n')[0]));
  };
  const names = Object.keys(times);
  for (const name of names) await run(name); // warm the page cache and the compile caches
  for (const name of names) times[name].length = 0;
  numpyInside.length = 0;
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round so no contender always follows the same one.
    for (let k = 0; k < names.length; k++) await run(names[(k + r) % names.length]);
  }

  result.cli_quantize_128mib_s = secs(median(times.cli));
  result.cli_workers2_quantize_128mib_s = secs(median(times.cli_workers2));
  result.cli_startup_s = secs(median(times.cli_startup));
  result.library_quantize_128mib_s = secs(median(times.library));
  result.cli_workers2_speedup = +(median(times.cli) / median(times.cli_workers2)).toFixed(2);
  log(`quantkit quantize 128 MiB (uint8, per-tensor):   median ${result.cli_quantize_128mib_s.toFixed(3)} s over ${ROUNDS} alternating rounds`);
  log(`  with --workers 2:                              median ${result.cli_workers2_quantize_128mib_s.toFixed(3)} s (${result.cli_workers2_speedup}x)`);
  log(`  start-up (the same on a 16-element file):      median ${result.cli_startup_s.toFixed(3)} s`);
  log(`  the library call in a warm process:            median ${result.library_quantize_128mib_s.toFixed(3)} s`);
  if (havePython) {
    result.numpy_quantize_128mib_s = secs(median(times.numpy));
    result.numpy_inside_script_s = secs(median(numpyInside));
    result.cli_over_numpy = +(median(times.cli) / median(times.numpy)).toFixed(3);
    result.cli_work_over_numpy_work = +((median(times.cli) - median(times.cli_startup)) / median(numpyInside)).toFixed(3);
    log(`numpy load -> min/max -> quantize -> save:       median ${result.numpy_quantize_128mib_s.toFixed(3)} s (${result.numpy_inside_script_s.toFixed(3)} s of it inside the script)`);
    log(`ratio quantkit / numpy, end to end: ${result.cli_over_numpy.toFixed(2)}x (target <= 0.5x)`);
    log(`ratio without process start-up (CLI minus its start-up, numpy inside the script): ${result.cli_work_over_numpy_work.toFixed(2)}x`);
  } else {
    log('numpy comparison skipped: python3 with numpy is not available');
  }
  result.loadavg_after = loadavg().map((v) => +v.toFixed(2));
  log(`load average before ${result.loadavg_before.join(' ')}, after ${result.loadavg_after.join(' ')} (2 cores)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (json) console.log(JSON.stringify(result));
