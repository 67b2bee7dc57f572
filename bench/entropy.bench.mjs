#!/usr/bin/env node
// The entropy (KL) threshold search on one channel's histogram: the direct O(bins²) search (ONNX
// Runtime's loop, entropyThresholdDirect: what the search was before) against entropyThreshold from the built
// package (prefix-sum brackets, then the few candidates that can win evaluated directly), at 2048
// and 8192 bins over 1M heavy-tailed normal values (1% scaled by 10), 128 quantized bins (8-bit).
// Checks both give the same threshold and divergence. Median of RUNS. `npm run build` first;
// `--json` prints one JSON object on stdout.
import { entropyThreshold, entropyThresholdDirect } from 'quantkit/core';
import { normal, timeMedian } from './lib.mjs';

const json = process.argv.includes('--json');
const RUNS = 15;
const QUANTIZED_BINS = 128;
const x = normal(1 << 20, 7);
for (let k = 0; k < x.length; k += 100) x[k] *= 10;

let T = 0;
let min = Infinity;
let max = -Infinity;
for (const v of x) {
  T = Math.max(T, Math.abs(v));
  min = Math.min(min, v);
  max = Math.max(max, v);
}

const result = { elements: x.length, quantizedBins: QUANTIZED_BINS, runs: RUNS, bins: {} };
for (const bins of [2048, 8192]) {
  const counts = new Float64Array(bins);
  for (const v of x) counts[Math.min(bins - 1, Math.floor(((v + T) / (2 * T)) * bins))]++;
  const args = [counts, -T, T, min, max, QUANTIZED_BINS];
  const oldResult = entropyThresholdDirect(...args);
  const newResult = entropyThreshold(...args);
  if (oldResult.min !== newResult.min || oldResult.max !== newResult.max || !Object.is(oldResult.divergence, newResult.divergence)) {
    throw new Error(`results differ at ${bins} bins: direct ${JSON.stringify(oldResult)}, new ${JSON.stringify(newResult)}`);
  }
  const directMs = timeMedian(() => entropyThresholdDirect(...args), RUNS, 5);
  const newMs = timeMedian(() => entropyThreshold(...args), RUNS, 5);
  result.bins[bins] = { direct_ms: directMs, new_ms: newMs, speedup: directMs / newMs, threshold: [newResult.min, newResult.max] };
  if (!json) {
    console.log(
      `entropy threshold, ${bins} bins, ${QUANTIZED_BINS} quantized: direct ${directMs.toFixed(2)} ms, ` +
        `prefix sums ${newMs.toFixed(3)} ms (${(directMs / newMs).toFixed(1)}× faster), same threshold [${newResult.min}, ${newResult.max}]`,
    );
  }
}
if (json) console.log(JSON.stringify(result));
