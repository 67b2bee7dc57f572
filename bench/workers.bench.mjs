#!/usr/bin/env node
// One thread against a KernelPool of 2 workers on 16 Mi float32 elements living in the shared
// WebAssembly memory (the workers run in place on it): quantize, dequantize and min/max, per-tensor
// and per-block. The machine is shared, so the two are timed alternately, round after round, and
// the medians compared; the load average is printed with them. `--json` prints one JSON object.
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const json = process.argv.includes('--json');
const ROUNDS = 15;
const log = (s) => {
  if (!json) console.log(s);
};
const median = (a) => {
  const s = [...a].sort((p, q) => p - q);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const { KernelPool } = await import(join(root, 'dist/node/worker-pool.js'));
const { createLocalRunner } = await import(join(root, 'dist/node/chunk-runner.js'));
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
const params = (layout) => ({
  scale: new Float32Array(layout.paramCount).fill(8 / 255),
  zp: new Int32Array(layout.paramCount).fill(77),
});
const pt = params(tensor);
const pb = params(blocked);
const CASES = {
  quantize_u8: (r) => r.quantize(x, tensor, pt.scale, pt.zp, 0, 255, codes, 0),
  dequantize_u8: (r) => r.dequantize(codes, tensor, pt.scale, pt.zp, values, 0),
  minmax: (r) => r.minMax(x, tensor, new Float32Array([Infinity]), new Float32Array([-Infinity]), 0, false),
  quantize_block32_u8: (r) => r.quantize(x, blocked, pb.scale, pb.zp, 0, 255, codes, 0),
  minmax_block32: (r) => r.minMax(x, blocked, new Float32Array(blocked.paramCount).fill(Infinity), new Float32Array(blocked.paramCount).fill(-Infinity), 0, false),
};

const result = { elements: n, rounds: ROUNDS, loadavg_before: loadavg().map((v) => +v.toFixed(2)) };
// Warm up both (worker start, WASM compile, page faults of the output arrays).
for (const run of Object.values(CASES)) {
  await run(local);
  await run(pool);
}
for (const [name, run] of Object.entries(CASES)) {
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
  result[`${name}_2workers_ms`] = +m2.toFixed(2);
  result[`${name}_speedup`] = +(m1 / m2).toFixed(2);
  log(`${name.padEnd(20)} 1 thread ${m1.toFixed(2).padStart(7)} ms   2 workers ${m2.toFixed(2).padStart(7)} ms   ${(m1 / m2).toFixed(2)}x`);
}
if (pool.parallelCalls === 0) throw new Error('the pool never split a call: the numbers above are not the workers');
result.loadavg_after = loadavg().map((v) => +v.toFixed(2));
log(`load average before ${result.loadavg_before.join(' ')}, after ${result.loadavg_after.join(' ')} (2 cores)`);
await pool.close();
await local.close();
if (json) console.log(JSON.stringify(result));
