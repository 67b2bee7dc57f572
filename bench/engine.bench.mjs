#!/usr/bin/env node
// The Quantizer's overhead over the core: quantize and dequantize of 16 Mi float32 values through
// the engine (mode policy, NaN scan, clip count, statistics) against core quantize / dequantize,
// per tensor and per channel, each as the median of warm runs. Uses the BUILT library (npm run
// build first). `--json` prints one JSON object and nothing else on stdout. Asserts nothing.
import { dequantize as coreDequantize, getKernels, quantize as coreQuantize } from 'quantkit/core'; // the package as Node callers import it (its "node" entry)
import { Quantizer } from 'quantkit';
import { normal, timeMedian } from './lib.mjs';

const json = process.argv.includes('--json');
const log = json ? () => {} : (s) => console.log(s);
const N = 16 * 1024 * 1024;
const ROWS = 4096;
const RUNS = 5;

const x = normal(N);
const results = { elements: N, kernels: getKernels().name, cases: {} };

for (const [name, config, shape] of [
  ['int8 per-tensor', { quantizationType: 'INT8' }, [ROWS, N / ROWS]],
  ['uint8 per-tensor', { quantizationType: 'UINT8' }, [ROWS, N / ROWS]],
  ['int8 per-channel (axis 0, 4096 channels)', { quantizationType: 'INT8', quantizationMode: 'PER_CHANNEL', channelDim: 0 }, [ROWS, N / ROWS]],
  ['int8 per-channel (last axis, 4096 channels)', { quantizationType: 'INT8', quantizationMode: 'PER_CHANNEL', channelDim: 1 }, [N / ROWS, ROWS]],
]) {
  const engine = new Quantizer(config);
  const input = { data: x, shape };
  const q = engine.quantize(input);
  const opts = { dtype: q.params.dtype, granularity: q.params.granularity };
  const quantizeEngineMs = timeMedian(() => engine.quantize(input), RUNS, 1);
  const quantizeCoreMs = timeMedian(() => coreQuantize(x, shape, opts), RUNS, 1);
  const dequantizeEngineMs = timeMedian(() => engine.dequantize(q.codes, { params: q.params, shape }), RUNS, 1);
  const dequantizeCoreMs = timeMedian(() => coreDequantize(q.codes, shape, q.params), RUNS, 1);
  results.cases[name] = {
    quantizeEngineMs: +quantizeEngineMs.toFixed(2),
    quantizeCoreMs: +quantizeCoreMs.toFixed(2),
    dequantizeEngineMs: +dequantizeEngineMs.toFixed(2),
    dequantizeCoreMs: +dequantizeCoreMs.toFixed(2),
  };
  log(`${name}: quantize engine ${quantizeEngineMs.toFixed(1)} ms, core ${quantizeCoreMs.toFixed(1)} ms; dequantize engine ${dequantizeEngineMs.toFixed(1)} ms, core ${dequantizeCoreMs.toFixed(1)} ms`);
}

if (json) console.log(JSON.stringify(results));
