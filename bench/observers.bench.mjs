#!/usr/bin/env node
// Observers on 16M float32 (64 MiB): the percentile observer (x copied once into WebAssembly
// memory with its min/max taken chunk by chunk, binned there in place, histogram quantiles for both
// percentiles) against np.percentile(x, [0.01, 99.99]) on the same values in the same run, from a
// heap array and from one living in WebAssembly memory (no copy); then the passes alone (the copy
// with min/max, binning in place, binning a heap array through staging, the TS reference) and the
// range searches of the histogram and entropy observers. Median of RUNS (gc between runs when
// --expose-gc is given). `--json` prints one JSON object on stdout.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const json = process.argv.includes('--json');
const RUNS = 11;
const N = 16 * 1024 * 1024;
const log = (s) => {
  if (!json) console.log(s);
};
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const time = (f) => {
  globalThis.gc?.();
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

const obs = await import(join(root, 'dist/core/observers/index.js'));
const { createWasmArena, getKernels } = await import(join(root, 'dist/core/kernels/index.js'));
const { histogramInto } = await import(join(root, 'dist/core/kernels/wasm.js'));
const { stageWithMinMax } = await import(join(root, 'dist/core/kernels/wasm-scratch.js'));

// Heavy-tailed data: a sum of uniforms (near normal) with 1% of values scaled by 20.
const x = new Float32Array(N);
let s = 12345;
const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
for (let i = 0; i < N; i++) {
  const v = u() + u() + u() + u() - 2;
  x[i] = u() < 0.01 ? 20 * v : v;
}

const result = { elements: N, runs: RUNS, kernels: getKernels().name, histogramKernel: obs.getHistogramKernel().name };

const percentileOf = (input) => () => {
  const o = new obs.PercentileObserver({ minPercentile: 0.01, maxPercentile: 99.99 });
  o.update(input, [N]);
  return o.range({ dtype: 'int8' });
};
const percentile = percentileOf(x);
// Warm-up: V8 runs a wasm function in its baseline tier until it has run a while, and a 16M-element
// kernel call is one invocation, so the first calls are not representative.
for (let k = 0; k < 3; k++) percentile();
const ours = [];
for (let r = 0; r < RUNS; r++) ours.push(time(percentile));
result.percentile_ms = median(ours);
// Best-of too: on a shared machine the minimum is the least disturbed by other processes.
result.percentile_best_ms = Math.min(...ours);
const r = percentile();
result.percentile_range = [r.min[0], r.max[0]];
log(`percentile observer (0.01, 99.99) on 16M float32: median ${result.percentile_ms.toFixed(1)} ms (kernels: ${result.kernels}, binning: ${result.histogramKernel})`);

const arena = createWasmArena();
if (arena.inWasmMemory) {
  const w = arena.float32(N);
  w.set(x);
  const fromWasm = percentileOf(w);
  fromWasm();
  const t = [];
  for (let k = 0; k < RUNS; k++) t.push(time(fromWasm));
  result.percentile_wasm_input_ms = median(t);
  log(`  x living in WebAssembly memory (createWasmArena, no copy): median ${result.percentile_wasm_input_ms.toFixed(1)} ms`);
}

// The passes alone.
const { blockLayout, PER_TENSOR } = await import(join(root, 'dist/core/layout.js'));
const layout = blockLayout([N], PER_TENSOR);
const range = () => [new Float32Array([Infinity]), new Float32Array([-Infinity])];
const mm = [];
for (let k = 0; k < RUNS; k++) mm.push(time(() => getKernels().minMax(x, layout, ...range())));
result.minmax_pass_ms = median(mm);
const cp = [];
for (let k = 0; k < RUNS; k++) cp.push(time(() => stageWithMinMax(x, layout, ...range(), false)));
result.copy_minmax_ms = median(cp);
const staged = stageWithMinMax(x, layout, ...range(), false);
const lo = x.reduce((a, b) => Math.min(a, b), Infinity);
const hi = x.reduce((a, b) => Math.max(a, b), -Infinity);
const binning = { wasm_in_place: (c) => histogramInto(staged, lo, hi, c), wasm: (c) => obs.wasmHistogramKernel.histogram(x, lo, hi, c), reference: (c) => obs.referenceHistogramKernel.histogram(x, lo, hi, c) };
for (const [name, bin] of Object.entries(binning)) {
  if (name !== 'reference' && !obs.histogramWasmAvailable()) continue;
  const t = [];
  for (let k = 0; k < (name === 'reference' ? 3 : RUNS); k++) t.push(time(() => bin(new Float64Array(2048))));
  result[`binning_${name}_ms`] = median(t);
}
arena.free();
log(`  passes: min/max of a heap x ${result.minmax_pass_ms.toFixed(1)} ms, copy into WASM memory with min/max ${result.copy_minmax_ms.toFixed(1)} ms; binning in place ${result.binning_wasm_in_place_ms?.toFixed(1)} ms, of a heap x (staged) ${result.binning_wasm_ms?.toFixed(1)} ms, TS reference ${result.binning_reference_ms.toFixed(1)} ms`);

// What the histogram-based searches cost once the histogram exists (per tensor, 2048 bins).
for (const name of ['histogram', 'entropy']) {
  const o = obs.createObserver(name);
  o.update(x, [N]);
  const t = [];
  for (let k = 0; k < 3; k++) t.push(time(() => o.range({ dtype: 'int8' })));
  result[`${name}_search_ms`] = median(t);
  log(`  ${name} observer range search (int8, 2048 bins): ${result[`${name}_search_ms`].toFixed(1)} ms`);
}

const check = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
if (check.status !== 0) {
  log('numpy comparison skipped: python3 with numpy is not available');
  result.numpy_skipped = true;
} else {
  const dir = mkdtempSync(join(tmpdir(), 'quantkit-bench-observers-'));
  try {
    const file = join(dir, 'x.f32');
    writeFileSync(file, new Uint8Array(x.buffer));
    const script = `
import sys, time, json
import numpy as np
x = np.fromfile(sys.argv[1], dtype=np.float32)
np.percentile(x, [0.01, 99.99])
ts = []
for _ in range(${RUNS}):
    t0 = time.perf_counter()
    v = np.percentile(x, [0.01, 99.99])
    ts.append((time.perf_counter() - t0) * 1000)
ts.sort()
print(json.dumps({"ms": ts[len(ts) // 2], "best": ts[0], "values": [float(a) for a in v]}))
`;
    const p = spawnSync('python3', ['-c', script, file], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (p.status !== 0) throw new Error(`numpy failed: ${p.stderr}`);
    const np = JSON.parse(p.stdout);
    result.numpy_percentile_ms = np.ms;
    result.numpy_values = np.values;
    result.numpy_percentile_best_ms = np.best;
    result.speedup_vs_numpy = np.ms / result.percentile_ms;
    result.speedup_vs_numpy_best = np.best / result.percentile_best_ms;
    const width = (hi - lo) / 2048;
    result.error_in_bins = [Math.abs(r.min[0] - np.values[0]) / width, Math.abs(r.max[0] - np.values[1]) / width];
    log(`np.percentile(x, [0.01, 99.99]): median ${np.ms.toFixed(1)} ms -> quantkit is ${result.speedup_vs_numpy.toFixed(1)}x faster (best of ${RUNS}: ${np.best.toFixed(1)} vs ${result.percentile_best_ms.toFixed(1)} ms, ${result.speedup_vs_numpy_best.toFixed(1)}x)`);
    log(`  ranges: quantkit [${r.min[0]}, ${r.max[0]}], numpy [${np.values[0]}, ${np.values[1]}] (${result.error_in_bins.map((e) => e.toFixed(2)).join(', ')} bins apart)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
if (json) console.log(JSON.stringify(result));
