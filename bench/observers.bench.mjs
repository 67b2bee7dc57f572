#!/usr/bin/env node
// Observers on 16M float32 (64 MiB): the percentile observer (one min/max kernel pass, one binning
// pass, histogram quantiles for both percentiles) against np.percentile(x, [0.01, 99.99]) on the
// same values, plus the binning kernel alone (WebAssembly SIMD vs the TS reference) and the
// range searches of the histogram and entropy observers. Median of RUNS. `--json` prints one
// JSON object on stdout.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const json = process.argv.includes('--json');
const RUNS = 7;
const N = 16 * 1024 * 1024;
const log = (s) => {
  if (!json) console.log(s);
};
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const time = (f) => {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

const obs = await import(join(root, 'dist/core/observers/index.js'));
const { getKernels } = await import(join(root, 'dist/core/kernels/index.js'));

// Heavy-tailed data: a sum of uniforms (near normal) with 1% of values scaled by 20.
const x = new Float32Array(N);
let s = 12345;
const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
for (let i = 0; i < N; i++) {
  const v = u() + u() + u() + u() - 2;
  x[i] = u() < 0.01 ? 20 * v : v;
}

const result = { elements: N, runs: RUNS, kernels: getKernels().name, histogramKernel: obs.getHistogramKernel().name };

const percentile = () => {
  const o = new obs.PercentileObserver({ minPercentile: 0.01, maxPercentile: 99.99 });
  o.update(x, [N]);
  return o.range({ dtype: 'int8' });
};
percentile();
const ours = [];
for (let r = 0; r < RUNS; r++) ours.push(time(percentile));
result.percentile_ms = median(ours);
// Best-of too: on a shared machine the minimum is the least disturbed by other processes.
result.percentile_best_ms = Math.min(...ours);
const r = percentile();
result.percentile_range = [r.min[0], r.max[0]];
log(`percentile observer (0.01, 99.99) on 16M float32: median ${result.percentile_ms.toFixed(1)} ms (kernels: ${result.kernels}, binning: ${result.histogramKernel})`);

// The two passes alone.
const { blockLayout, PER_TENSOR } = await import(join(root, 'dist/core/layout.js'));
const layout = blockLayout([N], PER_TENSOR);
const mm = [];
for (let k = 0; k < RUNS; k++) {
  mm.push(time(() => getKernels().minMax(x, layout, new Float32Array([Infinity]), new Float32Array([-Infinity]))));
}
result.minmax_pass_ms = median(mm);
const lo = x.reduce((a, b) => Math.min(a, b), Infinity);
const hi = x.reduce((a, b) => Math.max(a, b), -Infinity);
for (const [name, kernel] of [['wasm', obs.wasmHistogramKernel], ['reference', obs.referenceHistogramKernel]]) {
  if (name === 'wasm' && !obs.histogramWasmAvailable()) continue;
  const t = [];
  for (let k = 0; k < (name === 'reference' ? 3 : RUNS); k++) t.push(time(() => kernel.histogram(x, lo, hi, new Float64Array(2048))));
  result[`binning_${name}_ms`] = median(t);
}
log(`  min/max pass ${result.minmax_pass_ms.toFixed(1)} ms; binning pass ${result.binning_wasm_ms?.toFixed(1)} ms (SIMD), ${result.binning_reference_ms.toFixed(1)} ms (TS reference)`);

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
