// Times GPTQ on one float32 layer [rows, cols] (default 4096 × 4096) from the built library:
// Hessian accumulation, the inverse Cholesky factor alone, and the whole quantizeWeightGptq call,
// each with the TypeScript reference kernels and with the WebAssembly ones (bit-identical results).
// Usage: npm run build && node scripts/bench-gptq.mjs [rows] [cols] [samples]
import { performance } from 'node:perf_hooks';
import { cpus } from 'node:os';
import { createRng, hessianAccumulator, inverseCholeskyUpper, quantizeWeightGptq, rtnQuantizeBlocks } from '../dist/core/index.js';
import { inverseCholeskyUpperWasm } from '../dist/core/lowbit/gptq-kernels-wasm.js';

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
for (const kernel of ['typescript', 'wasm']) time(`hessian accumulation (${kernel})`, () => hessianAccumulator(cols, { kernel }).add(x, samples));
const acc = hessianAccumulator(cols);
acc.add(x, samples);
const h = acc.hessian();
for (let i = 0; i < cols; i++) h[i * cols + i] += 0.01;
time('inverse Cholesky factor (typescript)', () => inverseCholeskyUpper(h, cols));
time('inverse Cholesky factor (wasm)', () => inverseCholeskyUpperWasm(h, cols));
time('rtnQuantizeBlocks (int4, block 32)', () => rtnQuantizeBlocks(w, [rows, cols], { bits: 4, blockSize: 32 }));
for (const kernel of ['typescript', 'wasm']) time(`quantizeWeightGptq (int4, block 32, ${kernel})`, () => quantizeWeightGptq(w, [rows, cols], acc.hessian(), { bits: 4, blockSize: 32, kernel }));
