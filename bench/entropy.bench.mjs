#!/usr/bin/env node
// The entropy (KL) threshold search on one channel's histogram: the direct O(bins²) search (ONNX
// Runtime's loop, kept inline below as it was before) against entropyThreshold from the built
// package (prefix-sum brackets, then the few candidates that can win evaluated directly), at 2048
// and 8192 bins over 1M heavy-tailed normal values (1% scaled by 10), 128 quantized bins (8-bit).
// Checks both give the same threshold and divergence. Median of RUNS. `npm run build` first;
// `--json` prints one JSON object on stdout.
import { performance } from 'node:perf_hooks';
import { entropyThreshold } from 'quantkit/core';
import { median, normal } from './lib.mjs';

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
  const oldResult = directSearch(...args);
  const newResult = entropyThreshold(...args);
  if (oldResult.min !== newResult.min || oldResult.max !== newResult.max || !Object.is(oldResult.divergence, newResult.divergence)) {
    throw new Error(`results differ at ${bins} bins: direct ${JSON.stringify(oldResult)}, new ${JSON.stringify(newResult)}`);
  }
  const time = (f) => {
    // Warm-up: V8 optimises a function only after it has run a few times.
    for (let w = 0; w < 5; w++) f();
    const t = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      f();
      t.push(performance.now() - t0);
    }
    return median(t);
  };
  const directMs = time(() => directSearch(...args));
  const newMs = time(() => entropyThreshold(...args));
  result.bins[bins] = { direct_ms: directMs, new_ms: newMs, speedup: directMs / newMs, threshold: [newResult.min, newResult.max] };
  if (!json) {
    console.log(
      `entropy threshold, ${bins} bins, ${QUANTIZED_BINS} quantized: direct ${directMs.toFixed(2)} ms, ` +
        `prefix sums ${newMs.toFixed(3)} ms (${(directMs / newMs).toFixed(1)}× faster), same threshold [${newResult.min}, ${newResult.max}]`,
    );
  }
}
if (json) console.log(JSON.stringify(result));

// The search as it was before (src/core/observers/entropy-threshold.ts up to 29a8282), for comparison.
function directSearch(counts, lo, hi, min, max, quantizedBins) {
  const bins = counts.length;
  const zero = Math.floor(bins / 2);
  const halfQuantized = Math.floor(quantizedBins / 2);
  const step = (hi - lo) / bins;
  const edge = (k) => (k === bins ? hi : Math.fround(lo + k * step));
  if (halfQuantized > zero || !(hi > lo)) return { min, max, divergence: 0 };
  const prefix = new Float64Array(bins + 1);
  for (let b = 0; b < bins; b++) prefix[b + 1] = prefix[b] + counts[b];
  const width = 2 * zero + 1;
  const p = new Float64Array(width);
  const q = new Float64Array(width);
  const quantized = new Float64Array(quantizedBins);
  let best = Infinity;
  let bestStart = 0;
  let bestEnd = bins;
  for (let i = halfQuantized; i <= zero; i++) {
    const start = zero - i;
    const end = Math.min(zero + i + 1, bins);
    const n = end - start;
    for (let j = 0; j < n; j++) p[j] = counts[start + j];
    p[0] += prefix[start];
    p[n - 1] += prefix[bins] - prefix[end];
    const merged = Math.floor(n / quantizedBins);
    for (let j = 0; j < quantizedBins; j++) {
      quantized[j] = Math.trunc(prefix[start + (j + 1) * merged] - prefix[start + j * merged]);
    }
    quantized[quantizedBins - 1] += Math.trunc(prefix[end] - prefix[start + quantizedBins * merged]);
    q.fill(0, 0, n);
    for (let j = 0; j < quantizedBins; j++) {
      let nonzero = 0;
      for (let t = j * merged; t < (j + 1) * merged; t++) if (p[t] !== 0) nonzero++;
      if (nonzero !== 0) q.fill(Math.trunc(quantized[j] / nonzero), j * merged, (j + 1) * merged);
    }
    const div = klDivergence(p, q, n);
    if (div < best) {
      best = div;
      bestStart = start;
      bestEnd = end;
    }
  }
  let tMin = edge(bestStart);
  let tMax = edge(bestEnd);
  if (tMin < min) tMin = min;
  if (tMax > max) tMax = max;
  return { min: tMin, max: tMax, divergence: best };
}

function klDivergence(p, q, n) {
  const ps = smoothing(p, n);
  const qs = smoothing(q, n);
  if (ps === undefined || qs === undefined) return Infinity;
  let pSum = 0;
  let qSum = 0;
  for (let j = 0; j < n; j++) {
    pSum += smoothed(p[j], ps);
    qSum += smoothed(q[j], qs);
  }
  let kl = 0;
  for (let j = 0; j < n; j++) {
    const pj = smoothed(p[j], ps) / pSum;
    const qj = smoothed(q[j], qs) / qSum;
    kl += pj * Math.log(pj / qj);
  }
  return kl;
}

function smoothing(v, n) {
  let zeros = 0;
  let smallest = Infinity;
  for (let j = 0; j < n; j++) {
    if (v[j] === 0) zeros++;
    else if (v[j] < smallest) smallest = v[j];
  }
  const nonzeros = n - zeros;
  if (nonzeros === 0) return undefined;
  const eps1 = (1e-4 * zeros) / nonzeros;
  return smallest - eps1 > 0 ? eps1 : undefined;
}

function smoothed(v, eps1) {
  return v === 0 ? 1e-4 : v - eps1;
}
