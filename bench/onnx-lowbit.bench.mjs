#!/usr/bin/env node
// Low-bit weight methods on a generated ~105 MB ONNX model (four MatMuls with 2560×2560 float32
// weights, as onnx.bench.mjs): int4 block 32 by rtn, hqq, and gptq calibrated through
// onnxruntime-node on 4 batches of 64 rows (the issue asks for GPTQ of a 100 MB model in under 60 s
// on 2 cores), with wall and CPU seconds (the machine may be shared) and peak RSS. The real-model
// table (task metric, output error, size, time per method and width) is
// scripts/real-models/lowbit.mjs. Uses the BUILT library (npm run build first; QUANTKIT_DIST=dir to
// point elsewhere). `--json` prints one JSON object and nothing else on stdout. Asserts nothing.
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { normal } from './lib.mjs';

const dist = resolve(process.env.QUANTKIT_DIST ?? new URL('../dist', import.meta.url).pathname);
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const { makeGraph, makeModel, makeNode, makeValueInfo } = await load('formats/onnx/builders.js');
const { makeTensor } = await load('formats/onnx/tensor.js');
const { quantizeModel } = await load('onnx/quantize-model.js');
const { createOrtRunner } = await load('node/onnx/ort-runner.js');

const json = process.argv.includes('--json');
const log = json ? () => {} : (s) => console.log(s);
const D = 2560;
const LAYERS = 4;
const nodes = [];
const inits = [];
for (let l = 0; l < LAYERS; l++) {
  nodes.push(makeNode('MatMul', [l === 0 ? 'x' : `h${l - 1}`, `W${l}`], [l === LAYERS - 1 ? 'y' : `h${l}`], { name: `mm${l}` }));
  const w = normal(D * D, l + 1);
  for (let i = 0; i < w.length; i++) w[i] *= 0.02;
  inits.push(makeTensor(`W${l}`, 'float32', [D, D], w));
}
const model = makeModel(makeGraph({ nodes, inputs: [makeValueInfo('x', 'float32', ['n', D])], outputs: [makeValueInfo('y', 'float32', ['n', D])], initializers: inits }), { '': 17 });
const batches = Array.from({ length: 4 }, (_, b) => ({ x: { name: 'x', dtype: 'float32', dims: [64, D], values: normal(64 * D, 100 + b) } }));
const hooks = { runModel: createOrtRunner(), calibrationData: () => batches };

const result = { modelMB: (LAYERS * D * D * 4) / 1e6 };
for (const method of ['rtn', 'hqq', 'gptq']) {
  global.gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await quantizeModel(model, { dtype: 'int4', blockSize: 32, method }, method === 'gptq' ? hooks : {});
  const cpu = process.cpuUsage(cpu0);
  result[method] = { seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  log(`int4 ${method} of a ${result.modelMB.toFixed(0)} MB model: ${result[method].seconds.toFixed(1)} s wall, ${result[method].cpuSeconds.toFixed(1)} s CPU${method === 'gptq' ? ' (target < 60 s on 2 cores)' : ''}`);
}
result.peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
log(`peak RSS ${result.peakRssMB} MB`);
if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
