#!/usr/bin/env node
// `quantkit onnx quantize --dtype int4 --method gptq` on a ~113 MB transformer-shaped ONNX model,
// timed from outside as a user runs it (the issue: GPTQ of a 100 MB model in under 60 s on 2 cores),
// with --workers 1 and with --workers 2. THE MODEL IS SYNTHETIC: no real model of that size ships in
// an npm package this project may use, so the bench generates one: 4 pre-LayerNorm blocks of d = 768
// (single-head attention: Q, K, V, O projections, Softmax; MLP 768 → 3072 → 768 with the Erf form of
// Gelu), 28.3 M float32 weights in 24 MatMuls whose spectra decay as trained weights' do (a product
// of Gaussian factors through a power-law diagonal, plus a little noise), and calibration inputs of
// 8 sequences × 128 tokens with correlated channels (a few shared factors) and a few loud channels.
//
// Usage: npm run build && node bench/gptq-model.bench.mjs [--blocks N] [--keep DIR [--generate-only]] [--json]
// QUANTKIT_DIST=dir times another build's CLI (a build without --workers is timed serially only).
// Wall and CPU seconds come from /usr/bin/time where it exists (CPU: user + system of the whole CLI
// process, its worker threads included); the machine may be shared, so compare CPU and ratios.
// Asserts nothing but that both runs write the same bytes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { normal } from './lib.mjs';

const dist = resolve(process.env.QUANTKIT_DIST ?? new URL('../dist', import.meta.url).pathname);
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const { makeGraph, makeModel, makeNode, makeValueInfo } = await load('formats/onnx/builders.js');
const { makeTensor } = await load('formats/onnx/tensor.js');
const { encodeModel } = await load('formats/onnx/model.js');
const { encodeNpy } = await load('formats/npy.js');

const json = process.argv.includes('--json');
const log = json ? () => {} : (s) => console.log(s);
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const BLOCKS = arg('--blocks', 4);
const D = 768;
const FF = 3072;
const SEQ = 128;
const SEQUENCES = 8;

/** W [k, n] = G1 · diag(σ) · G2 + noise, σ_f = (1 + f)^−0.8/√k over 96 factors (a few large directions, a long tail), noise 0.3/√k. */
function spectralWeight(k, n, seed) {
  const r = 96;
  const g1 = normal(k * r, seed);
  const g2 = normal(r * n, seed + 1);
  const w = normal(k * n, seed + 2);
  const scale = 1 / Math.sqrt(k);
  for (let i = 0; i < w.length; i++) w[i] *= 0.3 * scale;
  for (let f = 0; f < r; f++) {
    const s = scale * (1 + f) ** -0.8;
    for (let a = 0; a < k; a++) {
      const c = g1[a * r + f] * s;
      const row = a * n;
      const src = f * n;
      for (let b = 0; b < n; b++) w[row + b] += c * g2[src + b];
    }
  }
  return w;
}

function transformer() {
  const nodes = [];
  const inits = [];
  const ones = new Float32Array(D).fill(1);
  const zeros = new Float32Array(D);
  inits.push(makeTensor('ln_g', 'float32', [D], ones), makeTensor('ln_b', 'float32', [D], zeros));
  inits.push(makeTensor('inv_sqrt_d', 'float32', [], new Float32Array([1 / Math.sqrt(D)])));
  inits.push(makeTensor('half', 'float32', [], new Float32Array([0.5])), makeTensor('one', 'float32', [], new Float32Array([1])), makeTensor('inv_sqrt2', 'float32', [], new Float32Array([Math.SQRT1_2])));
  let x = 'x';
  let seed = 1000;
  const weight = (name, k, n) => {
    inits.push(makeTensor(name, 'float32', [k, n], spectralWeight(k, n, (seed += 10))));
    return name;
  };
  for (let b = 0; b < BLOCKS; b++) {
    const p = (s) => `b${b}_${s}`;
    nodes.push(makeNode('LayerNormalization', [x, 'ln_g', 'ln_b'], [p('ln1')], { name: p('ln1'), attributes: { axis: -1 } }));
    for (const w of ['q', 'k', 'v']) nodes.push(makeNode('MatMul', [p('ln1'), weight(p(`W${w}`), D, D)], [p(w)], { name: p(w) }));
    nodes.push(makeNode('Transpose', [p('k')], [p('kt')], { name: p('kt'), attributes: { perm: [1, 0] } }));
    nodes.push(makeNode('MatMul', [p('q'), p('kt')], [p('scores')], { name: p('scores') }));
    nodes.push(makeNode('Mul', [p('scores'), 'inv_sqrt_d'], [p('scaled')], { name: p('scaled') }));
    nodes.push(makeNode('Softmax', [p('scaled')], [p('probs')], { name: p('probs'), attributes: { axis: -1 } }));
    nodes.push(makeNode('MatMul', [p('probs'), p('v')], [p('att')], { name: p('att') }));
    nodes.push(makeNode('MatMul', [p('att'), weight(p('Wo'), D, D)], [p('o')], { name: p('o') }));
    nodes.push(makeNode('Add', [x, p('o')], [p('x1')], { name: p('res1') }));
    nodes.push(makeNode('LayerNormalization', [p('x1'), 'ln_g', 'ln_b'], [p('ln2')], { name: p('ln2'), attributes: { axis: -1 } }));
    nodes.push(makeNode('MatMul', [p('ln2'), weight(p('W1'), D, FF)], [p('f1')], { name: p('fc1') }));
    // Gelu(f) = f · ½(1 + erf(f/√2)), spelled out so opset 17 runs it.
    nodes.push(makeNode('Mul', [p('f1'), 'inv_sqrt2'], [p('fs')], { name: p('gelu_s') }));
    nodes.push(makeNode('Erf', [p('fs')], [p('fe')], { name: p('gelu_erf') }));
    nodes.push(makeNode('Add', [p('fe'), 'one'], [p('fa')], { name: p('gelu_add') }));
    nodes.push(makeNode('Mul', [p('fa'), 'half'], [p('fh')], { name: p('gelu_half') }));
    nodes.push(makeNode('Mul', [p('f1'), p('fh')], [p('g')], { name: p('gelu') }));
    nodes.push(makeNode('MatMul', [p('g'), weight(p('W2'), FF, D)], [p('f2')], { name: p('fc2') }));
    nodes.push(makeNode('Add', [p('x1'), p('f2')], [p('x2')], { name: p('res2') }));
    x = p('x2');
  }
  nodes.push(makeNode('Identity', [x], ['y'], { name: 'out' }));
  return makeModel(makeGraph({ nodes, inputs: [makeValueInfo('x', 'float32', ['n', D])], outputs: [makeValueInfo('y', 'float32', ['n', D])], initializers: inits }), { '': 17 });
}

/** [SEQUENCES, SEQ, D]: 24 shared factors, channel noise, every 97th channel 8× louder. */
function calibration() {
  const rows = SEQUENCES * SEQ;
  const F = 24;
  const z = normal(rows * F, 7);
  const a = normal(F * D, 8);
  const x = normal(rows * D, 9);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < D; c++) {
      let v = 0.5 * x[r * D + c];
      for (let f = 0; f < F; f++) v += (z[r * F + f] * a[f * D + c]) / Math.sqrt(F);
      x[r * D + c] = c % 97 === 5 ? 8 * v : v;
    }
  }
  return x;
}

// --keep DIR: write the model and calibration there and leave them (to rerun the CLI by hand).
const keepIndex = process.argv.indexOf('--keep');
const keep = keepIndex >= 0 ? resolve(process.argv[keepIndex + 1]) : undefined;
if (keep) mkdirSync(keep, { recursive: true });
const dir = keep ?? mkdtempSync(join(tmpdir(), 'qk-gptq-bench-'));
try {
  const t0 = performance.now();
  const model = encodeModel(transformer());
  writeFileSync(join(dir, 'model.onnx'), model);
  mkdirSync(join(dir, 'cal'), { recursive: true });
  writeFileSync(join(dir, 'cal', 'x.npy'), encodeNpy({ dtype: 'float32', shape: [SEQUENCES, SEQ, D], data: calibration() }));
  const weights = BLOCKS * (4 * D * D + 2 * D * FF);
  log(`synthetic transformer: ${BLOCKS} blocks, d ${D}, MLP ${FF}, ${(weights / 1e6).toFixed(1)} M float32 weights (${(model.length / 1e6).toFixed(0)} MB file), calibration ${SEQUENCES} × ${SEQ} tokens; generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  log(`${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs`);

  if (process.argv.includes('--generate-only')) process.exit(0);
  const cli = join(dist, 'cli/main.js');
  const help = spawnSync(process.execPath, [cli, 'onnx', 'quantize', '--help'], { encoding: 'utf8' }).stdout;
  const hasWorkers = help.includes('--workers');
  const timed = existsSync('/usr/bin/time');
  const result = { modelMB: model.length / 1e6, weights, blocks: BLOCKS, synthetic: true };
  const outputs = [];
  for (const workers of hasWorkers ? [1, 2] : [undefined]) {
    const out = join(dir, `q${workers ?? 'serial'}.onnx`);
    const args = [cli, 'onnx', 'quantize', join(dir, 'model.onnx'), '-o', out, '--dtype', 'int4', '--method', 'gptq', '--calibration', join(dir, 'cal'), ...(workers ? ['--workers', String(workers)] : [])];
    const w0 = performance.now();
    const r = timed ? spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 }) : spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
    const wall = (performance.now() - w0) / 1000;
    if (r.status !== 0) throw new Error(`quantkit exited ${r.status}: ${r.stderr}`);
    const t = /TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(r.stderr ?? '');
    const entry = { seconds: t ? Number(t[1]) : wall, ...(t && { cpuSeconds: Number(t[2]) + Number(t[3]) }) };
    result[workers ? `workers${workers}` : 'serial'] = entry;
    outputs.push(readFileSync(out));
    log(`gptq int4, ${workers ? `--workers ${workers}` : 'serial (this build has no --workers)'}: ${entry.seconds.toFixed(1)} s wall${entry.cpuSeconds !== undefined ? `, ${entry.cpuSeconds.toFixed(1)} s CPU` : ''} (target < 60 s on 2 cores)`);
  }
  if (outputs.length === 2 && !outputs[0].equals(outputs[1])) throw new Error('--workers 1 and --workers 2 wrote different models');
  if (outputs.length === 2) log('--workers 1 and --workers 2 wrote the same bytes');
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
