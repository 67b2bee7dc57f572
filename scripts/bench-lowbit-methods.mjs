// Output error (relative RMS of (Ŵ − W)·x against W·x) of every low-bit method at int4/int3/int2,
// block 32, on a synthetic layer [64, 128] whose inputs are low-rank with a few salient channels.
// Usage: npm run build && node scripts/bench-lowbit-methods.mjs
import { createRng, hessianAccumulator, quantizeWeightGptq, rtnQuantizeBlocks, awqScales, applyAwqScales, hqqQuantize, searchQuantize } from '../dist/core/index.js';
const rng = createRng(5);
const g = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
const rows = 64, cols = 128, n = 512;
const w = Float32Array.from({ length: rows * cols }, g);
const f = 8; const z = Float32Array.from({ length: n * f }, g); const a = Float32Array.from({ length: f * cols }, g);
const x = new Float32Array(n * cols);
for (let t = 0; t < n; t++) for (let j = 0; j < cols; j++) { let v = 0.2 * g(); for (let k = 0; k < f; k++) v += z[t * f + k] * a[k * cols + j]; x[t * cols + j] = v * (j % 17 === 0 ? 8 : 1); }
const outErr = (wq) => { let s = 0, ref = 0; for (let t = 0; t < n; t++) for (let r = 0; r < rows; r++) { let y = 0, y0 = 0; for (let j = 0; j < cols; j++) { y += (wq[r * cols + j] - w[r * cols + j]) * x[t * cols + j]; y0 += w[r * cols + j] * x[t * cols + j]; } s += y * y; ref += y0 * y0; } return Math.sqrt(s / ref); };
const acc = hessianAccumulator(cols); acc.add(x, n);
const m = new Float32Array(cols), sq = new Float32Array(cols);
for (let j = 0; j < cols; j++) { for (let t = 0; t < n; t++) { m[j] += Math.abs(x[t * cols + j]) / n; sq[j] += x[t * cols + j] ** 2 / n; } }
for (const bits of [4, 3, 2]) {
  const o = { bits, blockSize: 32, dequantize: true };
  const rtn = outErr(rtnQuantizeBlocks(w, [rows, cols], o).dequantized);
  const gq = outErr(quantizeWeightGptq(w, [rows, cols], acc.hessian(), o).dequantized);
  const gqa = outErr(quantizeWeightGptq(w, [rows, cols], acc.hessian(), { ...o, actOrder: true }).dequantized);
  const { scales } = awqScales(w, [rows, cols], m, { bits, blockSize: 32, inputs: x.subarray(0, 128 * cols) });
  const aw = outErr(Float32Array.from(applyAwqScales(w, [rows, cols], scales, o).dequantized, (v, i) => v / scales[i % cols]));
  const hq = outErr(hqqQuantize(w, [rows, cols], { ...o, zeroPoint: 'float' }).dequantized);
  const se = outErr(searchQuantize(w, [rows, cols], { ...o, importance: sq }).dequantized);
  const seu = outErr(searchQuantize(w, [rows, cols], o).dequantized);
  console.log(`int${bits} b32 relRMS output error: rtn ${rtn.toFixed(4)} gptq ${gq.toFixed(4)} (${(gq/rtn).toFixed(2)}x) gptq-act ${gqa.toFixed(4)} (${(gqa/rtn).toFixed(2)}x) awq ${aw.toFixed(4)} (${(aw/rtn).toFixed(2)}x) hqq-float ${hq.toFixed(4)} (${(hq/rtn).toFixed(2)}x) search-imatrix ${se.toFixed(4)} (${(se/rtn).toFixed(2)}x) search ${seu.toFixed(4)} (${(seu/rtn).toFixed(2)}x)`);
}
