#!/usr/bin/env node
// One thread against a KernelPool of 2 threads (this one and a worker) on 16 Mi float32 elements
// living in the shared WebAssembly memory (both run in place on it): quantize, dequantize and
// min/max, per-tensor, per-channel and per-block, next to the ceiling memory bandwidth sets (a
// 64 MiB copy on one thread against two). The machine is shared, so the two are timed alternately, round after round, and
// the medians compared; the load average is printed with them. `--json` prints one JSON object.
import { loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { median } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const json = process.argv.includes('--json');
const ROUNDS = 15;
const log = (s) => {
  if (!json) console.log(s);
};

const { KernelPool } = await import(join(root, 'dist/node/workers/worker-pool.js'));
const { createLocalRunner } = await import(join(root, 'dist/node/workers/chunk-runner.js'));
const { blockLayout } = await import(join(root, 'dist/core/layout.js'));

const n = 16 * 1024 * 1024;
const shape = [4096, n / 4096];
const local = createLocalRunner();
const pool = KernelPool.create(2);
const x = local.allocFloat32(n);
let s = 1;
for (let i = 0; i < n; i++) {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  x[i] = (s / 4294967296 - 0.3) * 8;
}
const codes = local.allocCodes('uint8', n);
const values = local.allocFloat32(n);

const tensor = blockLayout(shape, { kind: 'per-tensor' });
const blocked = blockLayout(shape, { kind: 'per-block', axis: 1, blockSize: 32 });
// Parameters along the contiguous axis: the kernels load a parameter vector per data vector and
// run slower than a copy, so these are compute-bound where the others are memory-bound.
const channels = blockLayout(shape, { kind: 'per-axis', axis: 1 });
const blocked0 = blockLayout(shape, { kind: 'per-block', axis: 0, blockSize: 32 });
const params = (layout) => ({
  scale: new Float32Array(layout.paramCount).fill(8 / 255),
  zp: new Int32Array(layout.paramCount).fill(77),
});
const pt = params(tensor);
const pb = params(blocked);
const pc = params(channels);
const pb0 = params(blocked0);
const CASES = {
  quantize_u8: (r) => r.quantize(x, tensor, pt.scale, pt.zp, 0, 255, codes, 0),
  dequantize_u8: (r) => r.dequantize(codes, tensor, pt.scale, pt.zp, values, 0),
  minmax: (r) => r.minMax(x, tensor, new Float32Array([Infinity]), new Float32Array([-Infinity]), 0, false),
  quantize_block32_u8: (r) => r.quantize(x, blocked, pb.scale, pb.zp, 0, 255, codes, 0),
  quantize_axis1_u8: (r) => r.quantize(x, channels, pc.scale, pc.zp, 0, 255, codes, 0),
  quantize_block32_axis0_u8: (r) => r.quantize(x, blocked0, pb0.scale, pb0.zp, 0, 255, codes, 0),
  minmax_block32: (r) => r.minMax(x, blocked, new Float32Array(blocked.paramCount).fill(Infinity), new Float32Array(blocked.paramCount).fill(-Infinity), 0, false),
};

// The ceiling for memory-bound kernels: copying 64 MiB on one thread against two threads copying
// 32 MiB each at once. Kernels that run near copy speed cannot gain more than this from threads.
const COPY_WORKER = `const { parentPort } = require('node:worker_threads');
const s = new Float32Array(${n / 2}).fill(1), d = new Float32Array(${n / 2});
parentPort.on('message', () => { d.set(s); parentPort.postMessage(0); });`;
const copiers = [new Worker(COPY_WORKER, { eval: true }), new Worker(COPY_WORKER, { eval: true })];
const copyOnce = (w) => new Promise((resolve) => { w.once('message', resolve); w.postMessage(0); });
const copySrc = new Float32Array(n).fill(1);
const copyDst = new Float32Array(n);
const copy = { one: () => copyDst.set(copySrc), two: () => Promise.all(copiers.map(copyOnce)) };

const result = { elements: n, rounds: ROUNDS, loadavg_before: loadavg().map((v) => +v.toFixed(2)) };
// Warm up both (worker start, WASM compile, page faults of the output arrays).
for (const run of Object.values(CASES)) {
  await run(local);
  await run(pool);
}
await copy.two();
const timed = [['copy_64mib', (r) => (r === local ? copy.one() : copy.two())], ...Object.entries(CASES)];
for (const [name, run] of timed) {
  const one = [];
  const two = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which goes first, so a burst of outside load does not always hit the same side.
    const order = r % 2 ? [[pool, two], [local, one]] : [[local, one], [pool, two]];
    for (const [runner, times] of order) {
      const t0 = performance.now();
      await run(runner);
      times.push(performance.now() - t0);
    }
  }
  const m1 = median(one);
  const m2 = median(two);
  result[`${name}_1thread_ms`] = +m1.toFixed(2);
  result[`${name}_2threads_ms`] = +m2.toFixed(2);
  result[`${name}_speedup`] = +(m1 / m2).toFixed(2);
  log(`${name.padEnd(26)} 1 thread ${m1.toFixed(2).padStart(7)} ms   2 threads ${m2.toFixed(2).padStart(7)} ms   ${(m1 / m2).toFixed(2)}x`);
}
if (pool.parallelCalls === 0) throw new Error('the pool never split a call: the numbers above are not the workers');
result.loadavg_after = loadavg().map((v) => +v.toFixed(2));
log(`load average before ${result.loadavg_before.join(' ')}, after ${result.loadavg_after.join(' ')} (2 cores)`);
await pool.close();
await Promise.all(copiers.map((w) => w.terminate()));
await local.close();
if (json) console.log(JSON.stringify(result));
