// Times GPTQ on one float32 layer [rows, cols] (default 4096 × 4096) from the built library:
// Hessian accumulation, the inverse Cholesky factor alone, and the whole quantizeWeightGptq call.
// Usage: npm run build && node scripts/bench-gptq.mjs [rows] [cols] [samples]
import { performance } from 'node:perf_hooks';
import { cpus } from 'node:os';
import { createRng, hessianAccumulator, inverseCholeskyUpper, quantizeWeightGptq, rtnQuantizeBlocks } from '../dist/core/index.js';

const rows = Number(process.argv[2] ?? 4096);
const cols = Number(process.argv[3] ?? 4096);
const samples = Number(process.argv[4] ?? 256);
const rng = createRng(1);
const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
const w = new Float32Array(rows * cols).map(() => gauss() * 0.02);
const x = new Float32Array(samples * cols).map(() => gauss());
const time = (label, fn) => {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const v = fn();
  const cpu = process.cpuUsage(c0);
  // CPU time beside wall time: on a shared machine the wall clock counts other processes' turns.
  console.log(`${label}: ${((performance.now() - t0) / 1000).toFixed(2)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU`);
  return v;
};
console.log(`GPTQ on [${rows}, ${cols}] float32, ${samples} calibration rows, ${cpus()[0]?.model ?? 'unknown CPU'}`);
const acc = hessianAccumulator(cols);
time('hessian accumulation', () => acc.add(x, samples));
const h = acc.hessian();
for (let i = 0; i < cols; i++) h[i * cols + i] += 0.01;
time('inverse Cholesky factor', () => inverseCholeskyUpper(h, cols));
time('rtnQuantizeBlocks (int4, block 32)', () => rtnQuantizeBlocks(w, [rows, cols], { bits: 4, blockSize: 32 }));
time('quantizeWeightGptq (int4, block 32)', () => quantizeWeightGptq(w, [rows, cols], acc.hessian(), { bits: 4, blockSize: 32 }));
