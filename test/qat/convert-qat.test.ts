import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createRng } from '../../src/core/random.js';
import { roundHalfEven } from '../../src/core/round.js';
import { decodeQuantizerParameters } from '../../src/engine/parameter-export.js';
import { decodeModel } from '../../src/formats/onnx/model.js';
import { readTensor } from '../../src/formats/onnx/tensor.js';
import { calibrateQat, convertQat, exportQuantizerParameters, prepareQat, qatOptimizer } from '../../src/qat/index.js';

vi.setConfig({ testTimeout: 60_000 });
const f32 = Math.fround;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function runOrt(onnx: Uint8Array, x: tf.Tensor): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(onnx);
  const out = await session.run({ input: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape) });
  return out.output!.data as Float32Array;
}

function randoms(seed: number, n: number, lo: number, hi: number): Float32Array {
  const r = createRng(seed);
  return Float32Array.from({ length: n }, () => f32(lo + (hi - lo) * r()));
}

describe('convertQat', () => {
  // x → Dense(3 → 2, ReLU) → Dense(2 → 2), int8: small enough to compute the integer model by hand.
  const W1 = [0.5, -0.25, 0.125, 0.75, -1, 0.3];
  const B1 = [0.1, -0.05];
  const W2 = [1.5, -0.5, 0.25, 0.8];
  const B2 = [0.02, 0.3];
  const x = tf.tensor2d(randoms(3, 5 * 3, -1, 1), [5, 3]);

  function tiny() {
    const m = tf.sequential();
    m.add(tf.layers.dense({ inputShape: [3], units: 2, activation: 'relu', name: 'fc1' }));
    m.add(tf.layers.dense({ units: 2, name: 'fc2' }));
    m.layers[0]!.setWeights([tf.tensor2d(W1, [3, 2]), tf.tensor1d(B1)]);
    m.layers[1]!.setWeights([tf.tensor2d(W2, [2, 2]), tf.tensor1d(B2)]);
    const q = prepareQat(m, { quantizationType: 'INT8' });
    calibrateQat(q, x);
    return q;
  }

  /** The integer model: int8 codes, int32 accumulators and biases, one requantization per layer. */
  function byHand(report: ReturnType<typeof convertQat>['report']) {
    const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
    const sx = report.input.scale[0]!;
    const zx = report.input.zeroPoint[0]!;
    let codes = Array.from(x.dataSync(), (v) => clamp(roundHalfEven(f32(v / sx)) + zx, -128, 127));
    let s = sx;
    let z = zx;
    let cin = 3;
    const weightCodes: number[][] = [];
    for (const [k, [W, B]] of [[W1, B1], [W2, B2]].entries()) {
      const layer = report.layers[k]!;
      const sw = layer.weight.scale;
      // Symmetric per-channel weights: scale max|w| / 127.5 (chooseQParams' symmetric formula), zero point 0.
      for (let c = 0; c < 2; c++) expect(sw[c]).toBe(f32(Math.max(...W!.filter((_, i) => i % 2 === c).map(Math.abs).map(f32)) / f32(255 / 2)));
      const qw = W!.map((w, i) => clamp(roundHalfEven(f32(f32(w) / sw[i % 2]!)), -128, 127));
      weightCodes.push(qw);
      const so = layer.output.scale[0]!;
      const zo = layer.output.zeroPoint[0]!;
      const next: number[] = [];
      for (let n = 0; n < 5; n++)
        for (let c = 0; c < 2; c++) {
          const bs = f32(s * sw[c]!);
          let acc = roundHalfEven(f32(f32(B![c]!) / bs));
          for (let i = 0; i < cin; i++) acc += (codes[n * cin + i]! - z) * qw[i * 2 + c]!;
          let q = roundHalfEven((acc * bs) / so) + zo;
          if (k === 0) q = Math.max(q, zo);
          next.push(clamp(q, -128, 127));
        }
      codes = next;
      s = report.layers[k]!.output.scale[0]!;
      z = report.layers[k]!.output.zeroPoint[0]!;
      cin = 2;
    }
    return { values: Float32Array.from(codes, (q) => f32((q - z) * s)), weightCodes };
  }

  for (const format of ['qdq', 'qoperator'] as const) {
    it(`${format}: ONNX Runtime computes the hand-computed integer model, which is the tfjs model's output`, async () => {
      const q = tiny();
      const { onnx, report } = convertQat(q, { format });
      const want = byHand(report);
      const tfOut = (q.predict(x) as tf.Tensor).dataSync() as Float32Array;
      expect(Array.from(tfOut)).toEqual(Array.from(want.values));
      expect(Array.from(await runOrt(onnx, x))).toEqual(Array.from(want.values));
      const model = decodeModel(onnx);
      const init = (name: string) => readTensor(model.graph!.initializer.find((t) => t.name === name)!);
      const w1 = init('fc1_weight_quantized');
      expect(w1.dtype).toBe('int8');
      // QDQ keeps tfjs's [in, out] layout for Gemm; QOperator writes QLinearConv's [out, in, 1, 1].
      const want1 = format === 'qdq' ? want.weightCodes[0]! : [0, 2, 4, 1, 3, 5].map((i) => want.weightCodes[0]![i]!);
      expect(Array.from(w1.values as Int8Array)).toEqual(want1);
      expect(init('fc1_bias_quantized').dtype).toBe('int32');
    });
  }

  it('exports the parameters in the engine versioned JSON, which the engine reads back', () => {
    const q = tiny();
    const { report } = convertQat(q);
    const file = JSON.parse(JSON.stringify(exportQuantizerParameters(q))) as unknown;
    const { calibrated, last } = decodeQuantizerParameters(file);
    expect(Array.from(last.get('fc1.weight')!.scale)).toEqual(report.layers[0]!.weight.scale);
    expect(Array.from(last.get('fc2.activation')!.zeroPoint)).toEqual(report.layers[1]!.output.zeroPoint);
    expect(calibrated.get('input.activation')!.method).toBe('moving-average');
    expect(calibrated.get('fc1.activation')!.min[0]).toBe(0);
  });

  // The config a user writes first, every layer int4 with one weight scale per tensor: the logits
  // take 16 levels, so ONNX Runtime's output must stay on that grid (the Clip before the 8-bit-stored
  // QuantizeLinear) for its argmax to tie where tfjs's does.
  it('an all-int4 model with per-tensor weights keeps its logits on the int4 grid in ONNX Runtime, in both formats', async () => {
    const m = tf.sequential();
    const init = (seed: number) => tf.initializers.glorotUniform({ seed });
    m.add(tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 3, kernelSize: 3, padding: 'same', name: 'c1', kernelInitializer: init(4) }));
    m.add(tf.layers.reLU());
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 4, name: 'logits', kernelInitializer: init(5) }));
    const xs = tf.tensor4d(randoms(11, 24 * 36, 0, 1), [24, 6, 6, 1]);
    const q = prepareQat(m, { quantizationType: 'INT4', perChannel: false });
    calibrateQat(q, xs);
    // Inputs beyond the calibrated range, so that logits fall outside the grid and must be clamped.
    const wide = tf.mul(xs, 3);
    const tfOut = (q.predict(wide) as tf.Tensor).dataSync() as Float32Array;
    for (const format of ['qdq', 'qoperator'] as const) {
      const { onnx, report } = convertQat(q, { format });
      for (const l of report.layers) expect(l.weight.scale.length, l.name).toBe(1);
      const head = report.layers[1]!.output;
      expect(head.dtype).toBe('int4');
      const got = await runOrt(onnx, wide);
      const codes = new Set<number>();
      for (let i = 0; i < got.length; i++) {
        const code = got[i]! / head.scale[0]! + head.zeroPoint[0]!;
        expect(Math.abs(code - Math.round(code)), format).toBeLessThan(1e-3);
        expect(Math.round(code), format).toBeGreaterThanOrEqual(-8);
        expect(Math.round(code), format).toBeLessThanOrEqual(7);
        codes.add(Math.round(code));
        expect(Math.abs(got[i]! - tfOut[i]!), format).toBeLessThanOrEqual(head.scale[0]! * 1.0001);
      }
      // The inputs spread the logits over the grid, to both ends.
      expect(codes.size, format).toBeGreaterThan(3);
      expect(codes.has(7) || codes.has(-8), format).toBe(true);
    }
  });

  it('a trained int4 CNN (BatchNorm folded, depthwise conv, LSQ) runs in ONNX Runtime as in tfjs, in both formats', async () => {
    const m = tf.sequential();
    const init = (seed: number) => tf.initializers.glorotUniform({ seed });
    m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'c1', kernelInitializer: init(1) }));
    m.add(tf.layers.batchNormalization({ name: 'bn1' }));
    m.add(tf.layers.reLU({ maxValue: 6 }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'valid', name: 'dw', depthwiseInitializer: init(2) }));
    m.add(tf.layers.activation({ activation: 'relu' }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 3, name: 'head', kernelInitializer: init(3) }));
    const xs = tf.tensor4d(randoms(7, 32 * 64, 0, 1), [32, 8, 8, 1]);
    const ys = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 3), 'int32'), 3);
    const q = prepareQat(m, { quantizationType: 'INT4', learnable: 'lsq', freezeBatchNormAfter: 3, customQuantizationConfig: { head: { quantizationType: 'INT8' } } });
    calibrateQat(q, xs);
    q.compile({ optimizer: qatOptimizer(q, tf.train.adam(1e-2)), loss: (a: tf.Tensor, b: tf.Tensor) => tf.losses.softmaxCrossEntropy(a, b) });
    await q.fit(xs, ys, { epochs: 2, batchSize: 8, verbose: 0 });
    const tfOut = (q.predict(xs) as tf.Tensor).dataSync() as Float32Array;
    for (const format of ['qdq', 'qoperator'] as const) {
      const { onnx, report } = convertQat(q, { format });
      expect(report.layers.map((l) => [l.op, l.batchNormFolded, l.activation, l.weight.dtype])).toEqual([
        ['Conv', true, 'relu6', 'int4'],
        ['DepthwiseConv', false, 'relu', 'int4'],
        ['Dense', false, 'linear', 'int8'],
      ]);
      const got = await runOrt(onnx, xs);
      const step = report.layers[2]!.output.scale[0]!;
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - tfOut[i]!)).toBeLessThanOrEqual(step * 1.0001);
    }
  });
});
