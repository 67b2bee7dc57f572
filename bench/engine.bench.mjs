#!/usr/bin/env node
// The Quantizer's dequantization cache: dequantize of 16 Mi int8 and uint8 codes through the
// lookup-table path (enableCache: true) against the kernel path (enableCache: false), per tensor
// and per channel, each as the median of warm runs into a reused output buffer (so allocation is
// not measured). Also times quantize through the engine against core quantize to show the
// engine's overhead. Uses the BUILT library (npm run build first). `--json` prints one JSON object
// and nothing else on stdout. Reports which path is faster; asserts nothing.
import { getKernels, quantize as coreQuantize, referenceKernels, setKernels } from 'quantkit/core'; // the package as Node callers import it (its "node" entry)
import { Quantizer } from 'quantkit';
import { normal, timeMedian } from './lib.mjs';

const json = process.argv.includes('--json');
const log = json ? () => {} : (s) => console.log(s);
const N = 16 * 1024 * 1024;
const ROWS = 4096;
const RUNS = 7;

const x = normal(N);
const shape = [ROWS, N / ROWS];
const results = { elements: N, kernels: getKernels().name, cases: {} };
const simd = getKernels();

for (const [name, config, kernels] of [
  ['int8 per-tensor, reference (non-SIMD) kernels', { quantizationType: 'INT8' }, referenceKernels],
  ['int8 per-channel (axis 0), reference (non-SIMD) kernels', { quantizationType: 'INT8', quantizationMode: 'PER_CHANNEL', channelDim: 0 }, referenceKernels],
  ['int8 per-tensor', { quantizationType: 'INT8' }],
  ['uint8 per-tensor', { quantizationType: 'UINT8' }],
  ['int8 per-channel (axis 0, 4096 channels)', { quantizationType: 'INT8', quantizationMode: 'PER_CHANNEL', channelDim: 0 }],
  ['int8 per-channel (last axis, 4096 channels)', { quantizationType: 'INT8', quantizationMode: 'PER_CHANNEL', channelDim: 1 }],
]) {
  setKernels(kernels ?? simd);
  const cached = new Quantizer({ ...config, bufferSize: N });
  const plain = new Quantizer({ ...config, enableCache: false, bufferSize: N });
  const input = name.includes('last axis') ? { data: x, shape: [N / ROWS, ROWS] } : { data: x, shape };
  const q = cached.quantize(input);
  const opts = { params: q.params, shape: q.shape, reuseOutput: true };
  const a = cached.dequantize(q.codes, opts).values.slice();
  const b = plain.dequantize(q.codes, opts).values;
  let identical = a.length === b.length;
  const ua = new Uint32Array(a.buffer);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; identical && i < ua.length; i++) identical = ua[i] === ub[i];
  const cachedMs = timeMedian(() => cached.dequantize(q.codes, opts), RUNS);
  const uncachedMs = timeMedian(() => plain.dequantize(q.codes, opts), RUNS);
  const faster = cachedMs < uncachedMs ? 'cached' : 'uncached';
  results.cases[name] = {
    kernels: (kernels ?? simd).name,
    cachedMs: +cachedMs.toFixed(2),
    uncachedMs: +uncachedMs.toFixed(2),
    speedup: +(uncachedMs / cachedMs).toFixed(2),
    faster,
    bitIdentical: identical,
    cachedGBps: +((N * 5) / cachedMs / 1e6).toFixed(2),
  };
  log(`${name}: cached ${cachedMs.toFixed(1)} ms, uncached ${uncachedMs.toFixed(1)} ms -> ${faster} is faster (x${(uncachedMs / cachedMs).toFixed(2)}), bit-identical: ${identical}`);
}

{
  setKernels(simd);
  const engine = new Quantizer({ bufferSize: N });
  const engineMs = timeMedian(() => engine.quantize({ data: x, shape }, { reuseOutput: true }), 5, 1);
  const out = new Int8Array(N);
  const coreMs = timeMedian(() => coreQuantize(x, shape, { dtype: 'int8', out }), 5, 1);
  results.quantize = { engineMs: +engineMs.toFixed(2), coreMs: +coreMs.toFixed(2), overhead: +(engineMs / coreMs).toFixed(2) };
  log(`quantize 16 Mi (DYNAMIC int8): engine ${engineMs.toFixed(1)} ms, core ${coreMs.toFixed(1)} ms (engine adds the clip count and stats)`);
}

if (json) console.log(JSON.stringify(results));
