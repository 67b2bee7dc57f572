#!/usr/bin/env node
// Where the seconds of a sequential GPTQ go, in one process: the CLI's own path (quantizeModel with
// onnxruntime-node calibration hooks and the worker pool), with each piece timed from outside the
// library: onnxruntime session creation and release, model runs, the statistics callback (Hessian
// and patch-Hessian accumulation), quantizing each pass's layers (GPTQ, in the worker pool), and
// the rest of each pass (cloning and encoding the running model, writing dequantized weights).
//
// Options as `quantkit onnx quantize --method gptq --raise-opset` (the CLI also checks the input and output models load).
// Usage: npm run build && node bench/gptq-profile.mjs MODEL.onnx CALIBRATION_DIR [--workers N] [--dtype int4] [--float-targets SHARE] [--out FILE] [--json]
// QUANTKIT_DIST=dir profiles another build. --out writes the quantized model (to compare bytes).
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = resolve(process.env.QUANTKIT_DIST ?? new URL('../dist', import.meta.url).pathname);
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const [modelPath, calDir] = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
if (!modelPath || !calDir) {
  console.error('usage: node bench/gptq-profile.mjs MODEL.onnx CALIBRATION_DIR [--workers N] [--dtype int4] [--float-targets SHARE] [--out FILE] [--json]');
  process.exit(2);
}
const flag = (name) => (process.argv.indexOf(name) >= 0 ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const workers = Number(flag('--workers') ?? availableParallelism());
const dtype = flag('--dtype') ?? 'int4';
const json = process.argv.includes('--json');
// GPTQ fitted to the float model (the CLI's --float-targets): its passes also run the float copy, and the callback accumulates the drift.
const floatTargets = flag('--float-targets') === undefined ? undefined : Number(flag('--float-targets'));

const { calibrationHooks } = await load('node/onnx/calibration-data.js');
const { loadModel } = await load('node/onnx/onnx-file.js');
const { quantizeModel } = await load('onnx/quantize-model.js');
const { encodeModel } = await load('formats/onnx/model.js');
const { BlockedWeightPool } = await load('node/workers/blocked-weight-pool.js');

const t = { loadMs: 0, sessionMs: 0, runMs: 0, runs: 0, callbackMs: 0, runModelMs: 0, calls: 0, quantizeMs: 0, totalMs: 0, encodeOutMs: 0 };
const cpu0 = process.cpuUsage();
const w0 = performance.now();
const model = loadModel(resolve(modelPath));
t.loadMs = performance.now() - w0;
const timing = { sessionMs: 0, runMs: 0, runs: 0 };
const cal = calibrationHooks(model, resolve(calDir), timing);
const inner = cal.hooks.runModel;
const runModel = async (bytes, batches, onOutputs, names) => {
  const s = performance.now();
  t.calls++;
  try {
    await inner(bytes, batches, async (out, i) => {
      const c = performance.now();
      try {
        await onOutputs(out, i);
      } finally {
        t.callbackMs += performance.now() - c;
      }
    }, names);
  } finally {
    t.runModelMs += performance.now() - s;
  }
};
const pool = workers > 1 ? BlockedWeightPool.create(workers) : undefined;
// A pass's layers go to the pool at once: time while any is in flight, not the sum of overlapping calls.
let active = 0;
let since = 0;
const quantizeBlocked = pool && (async (...a) => {
  if (active++ === 0) since = performance.now();
  try {
    return await pool.run(...a);
  } finally {
    if (--active === 0) t.quantizeMs += performance.now() - since;
  }
});
let result;
const q0 = performance.now();
try {
  result = await quantizeModel(model, { mode: 'weight-only', dtype, method: 'gptq', raiseOpset: true, ...(floatTargets !== undefined && { floatTargets }) }, { runModel, calibrationData: cal.hooks.calibrationData, ...(quantizeBlocked && { quantizeBlocked }) });
} finally {
  await pool?.close();
}
t.totalMs = performance.now() - q0;
const e0 = performance.now();
const bytes = encodeModel(result.model);
t.encodeOutMs = performance.now() - e0;
const out = flag('--out');
if (out) writeFileSync(out, bytes);
const cpu = process.cpuUsage(cpu0);
Object.assign(t, timing);
const rest = t.totalMs - t.runModelMs - t.quantizeMs;
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
const summary = {
  cpu: cpus()[0]?.model,
  loadavg: loadavg().map((x) => x.toFixed(2)).join(' '),
  passes: result.report.calibration?.passes,
  batches: result.report.calibration?.batches,
  ...t,
  sessionMs: timing.sessionMs,
  outsideRunMs: rest,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
};
if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
else {
  console.log(`${summary.cpu}, load ${summary.loadavg}; ${summary.passes} passes over ${summary.batches} batches, ${t.runs} model runs, ${workers} workers`);
  console.log(`quantizeModel ${s(t.totalMs)} wall (${summary.cpuSeconds.toFixed(1)} s CPU in this process and its workers' threads)`);
  console.log(`  runModel calls ${t.calls}: ${s(t.runModelMs)}: sessions ${s(timing.sessionMs)}, runs ${s(timing.runMs)}, statistics callback ${s(t.callbackMs)}`);
  console.log(`  quantizing layers (pool, while any layer is in flight): ${s(t.quantizeMs)}`);
  console.log(`  the rest (planning, cloning and encoding the running model, writing dequantized weights, serial quantizing without a pool): ${s(rest)}`);
  console.log(`load ${s(t.loadMs)}, encode output ${s(t.encodeOutMs)}`);
}
