#!/usr/bin/env node
// The CLI against numpy on a 128 MiB float32 .npy (uint8, per-tensor), each timed end to end as a
// user would run it (process start included for both), median of a few runs; then the kernel
// pool with 1 and 2 workers on 16M in-memory elements. `--json` prints one JSON object.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const json = process.argv.includes('--json');
const RUNS = 5;
const log = (s) => {
  if (!json) console.log(s);
};
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

const { encodeNpyHeader } = await import(join(root, 'dist/formats/npy.js'));
const { KernelPool } = await import(join(root, 'dist/node/worker-pool.js'));
const { createLocalRunner } = await import(join(root, 'dist/node/chunk-runner.js'));
const { blockLayout } = await import(join(root, 'dist/core/layout.js'));

const dir = mkdtempSync(join(tmpdir(), 'quantkit-bench-cli-'));
const result = {};
try {
  // 128 MiB of float32 input.
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

  const cli = join(root, 'dist/cli/main.js');
  const ours = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    const p = spawnSync(process.execPath, [cli, 'quantize', input, '-o', join(dir, 'q.npy'), '--dtype', 'uint8'], { encoding: 'utf8' });
    ours.push((performance.now() - t0) / 1000);
    if (p.status !== 0) throw new Error(`quantkit failed: ${p.stderr}`);
  }
  result.cli_quantize_128mib_s = median(ours);
  log(`quantkit quantize 128 MiB (uint8, per-tensor): median ${median(ours).toFixed(3)} s over ${RUNS} runs`);

  const script = join(root, 'scripts/bench-cli-numpy.py');
  const check = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (check.status !== 0) {
    log('numpy comparison skipped: python3 with numpy is not available');
    result.numpy_skipped = true;
  } else {
    // Whole process per run, as for the CLI: interpreter start and import numpy count too.
    const theirs = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      const p = spawnSync('python3', [script, input, join(dir, 'np.npy'), '1'], { encoding: 'utf8' });
      theirs.push((performance.now() - t0) / 1000);
      if (p.status !== 0) throw new Error(`numpy script failed: ${p.stderr}`);
    }
    result.numpy_quantize_128mib_s = median(theirs);
    result.cli_over_numpy = median(ours) / median(theirs);
    log(`numpy load -> min/max -> quantize -> save: median ${median(theirs).toFixed(3)} s`);
    log(`ratio quantkit / numpy: ${result.cli_over_numpy.toFixed(2)}x (target <= 0.5x)`);
  }

  // Kernels over 16M in-memory elements: this thread vs a pool of 2 workers.
  const m = 16 * 1024 * 1024;
  const layout = blockLayout([m], { kind: 'per-tensor' });
  const scale = new Float32Array([8 / 255]);
  const zp = new Int32Array([77]);
  for (const [name, runner] of [['1 thread', createLocalRunner()], ['2 workers', KernelPool.create(2)]]) {
    const x = runner.allocFloat32(m);
    for (let i = 0; i < m; i += chunk.length) x.set(chunk.subarray(0, Math.min(chunk.length, m - i)), i);
    const out = runner.allocCodes('uint8', m);
    const min = new Float32Array([Infinity]);
    const max = new Float32Array([-Infinity]);
    const times = { quantize: [], minMax: [] };
    for (let r = 0; r < RUNS + 1; r++) {
      const t0 = performance.now();
      await runner.minMax(x, layout, min, max, 0, false);
      const t1 = performance.now();
      await runner.quantize(x, layout, scale, zp, 0, 255, out, 0);
      const t2 = performance.now();
      if (r === 0) continue; // warm-up (worker start, WASM compile)
      times.minMax.push(t1 - t0);
      times.quantize.push(t2 - t1);
    }
    await runner.close();
    const key = name === '1 thread' ? 'threads_1' : 'threads_2';
    result[`${key}_quantize_16m_ms`] = median(times.quantize);
    result[`${key}_minmax_16m_ms`] = median(times.minMax);
    log(`${name}: quantize 16M ${median(times.quantize).toFixed(2)} ms, min/max ${median(times.minMax).toFixed(2)} ms`);
  }
  result.workers_2_speedup_quantize = result.threads_1_quantize_16m_ms / result.threads_2_quantize_16m_ms;
  log(`2 workers vs 1 thread (quantize 16M): ${result.workers_2_speedup_quantize.toFixed(2)}x faster`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (json) console.log(JSON.stringify(result));
