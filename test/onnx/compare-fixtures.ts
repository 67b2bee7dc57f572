import { clone } from '@bufbuild/protobuf';
import type { ModelProto } from 'onnx-buf';
import { ModelProtoSchema } from 'onnx-buf';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import type { TensorData } from '../../src/formats/onnx/tensor.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import type { MetricTarget } from '../../src/onnx/metrics/metric.js';
import type { TensorMap } from '../../src/onnx/run-model.js';
import { randomWeights } from './models.js';
import { drawBitmapText } from '../../scripts/real-models/bitmap-font.mjs';

export function f32(name: string, dims: number[], values: Float32Array): TensorData {
  return { name, dtype: 'float32', dims, values };
}

/** One batch feeding `x` of `dims` with deterministic values; `zeroFirst` zeroes feature 0 of every row. */
export function batchOf(dims: number[], seed: number, zeroFirst = false): TensorMap {
  const n = dims.reduce((a, d) => a * d, 1);
  const v = randomWeights(n, seed);
  if (zeroFirst) for (let i = 0; i < n; i += dims[dims.length - 1]!) v[i] = 0;
  return { x: f32('x', dims, v) };
}

/**
 * Weights [k, n] that int4 (narrow symmetric, blocks of 32 along k) represents exactly: multiples
 * of 1/8 in [-7/8, 7/8], each 32-row block of each column holding ±7/8.
 */
export function int4ExactWeights(k: number, n: number, seed: number): Float32Array {
  const r = randomWeights(k * n, seed);
  const w = new Float32Array(k * n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) w[i * n + j] = i % 32 === j % 32 ? 0.875 : Math.round(r[i * n + j]! * 7) / 8;
  }
  return w;
}

/**
 * Weights [k, n] that quantize badly: row 0 is a 1000 outlier (fed by an input feature that is
 * always 0, so it never shows in the float output) and the rest are small, so per-channel scales
 * round them all to zero.
 */
export function fragileWeights(k: number, n: number, seed: number): Float32Array {
  const w = randomWeights(k * n, seed);
  for (let i = 0; i < k * n; i++) w[i] = i < n ? 1000 : w[i]! * 0.5;
  return w;
}

/**
 * x [B, 64] → 'fragile' MatMul [64, 64] → h1 → 'exact4' MatMul [64, 64] (int4-exact) → h2 →
 * 'dense' MatMul [64, 64] (uniform random: int8 fine, int4 noisy) → y [B, 64]. The fragile layer
 * must see feature 0 = 0: feed batches made with zeroFirst.
 */
export function threeLayerModel(batch = 4) {
  const g = makeGraph({
    nodes: [
      makeNode('MatMul', ['x', 'Wf'], ['h1'], { name: 'fragile' }),
      makeNode('MatMul', ['h1', 'We'], ['h2'], { name: 'exact4' }),
      makeNode('MatMul', ['h2', 'Wd'], ['y'], { name: 'dense' }),
    ],
    inputs: [makeValueInfo('x', 'float32', [batch, 64])],
    outputs: [makeValueInfo('y', 'float32', [batch, 64])],
    initializers: [
      makeTensor('Wf', 'float32', [64, 64], fragileWeights(64, 64, 11)),
      makeTensor('We', 'float32', [64, 64], int4ExactWeights(64, 64, 12)),
      makeTensor('Wd', 'float32', [64, 64], randomWeights(64 * 64, 13)),
    ],
  });
  return makeModel(g, { '': 17 });
}

/** x [B, 32] → MatMul W [32, 10] → logits → Softmax → probs [B, 10]; also outputs the logits. */
export function classifierModel(batch = 8, seed = 21) {
  const g = makeGraph({
    nodes: [makeNode('MatMul', ['x', 'W'], ['logits'], { name: 'fc' }), makeNode('Softmax', ['logits'], ['probs'], { name: 'softmax', attributes: { axis: -1 } })],
    inputs: [makeValueInfo('x', 'float32', [batch, 32])],
    outputs: [makeValueInfo('probs', 'float32', [batch, 10]), makeValueInfo('logits', 'float32', [batch, 10])],
    initializers: [makeTensor('W', 'float32', [32, 10], randomWeights(320, seed))],
  });
  return makeModel(g, { '': 17 });
}

/**
 * Text lines as a text recognizer's input x [N, 3, 48, 192]: black text in the bitmap font
 * (each font pixel a `scale`-px square) on white, normalized (v − 0.5) / 0.5 as PaddleOCR's
 * recognizer preprocessing does, the gray copied to the three channels.
 */
export function textLines(lines: readonly string[], scale = 4): TensorMap {
  const h = 48;
  const w = 192;
  const out = new Float32Array(lines.length * 3 * h * w).fill(1);
  lines.forEach((text, n) => {
    const y = Math.floor((h - 7 * scale) / 2);
    drawBitmapText(text, y, 4, scale, (py, px) => {
      for (let c = 0; c < 3; c++) out[((n * 3 + c) * h + py) * w + px] = -1;
    });
  });
  return { x: f32('x', [lines.length, 3, h, w], out) };
}

/** A float32 tensor for metric tests. */
export function t(name: string, dims: number[], values: number[]): TensorData {
  return { name, dtype: 'float32', dims, values: new Float32Array(values) };
}

/** A target of graph outputs `outputs`, those in `probabilities` out of a Softmax, `softmax` out of Softmax or LogSoftmax. */
export function target(outputs: string[], probabilities: string[] = [], softmax: string[] = probabilities, batches = 1): MetricTarget {
  return { outputs, probabilities: new Set(probabilities), softmax: new Set(softmax), batches };
}

/**
 * The recognizer with its softmax output replaced by "blank at every step" (one-hot class 0):
 * the output a model that reads nothing gives, whatever CPU it runs on.
 */
export function blankEverywhere(model: ModelProto): ModelProto {
  const m = clone(ModelProtoSchema, model);
  const g = m.graph!;
  const out = g.output[0]!.name;
  const producer = g.node.find((n) => n.output.includes(out))!;
  producer.output[producer.output.indexOf(out)] = `${out}_read`;
  const classes = 6625;
  const onehot = new Float32Array(classes);
  onehot[0] = 1;
  g.initializer.push(makeTensor('blank_zero', 'float32', [1], new Float32Array([0])), makeTensor('blank_onehot', 'float32', [classes], onehot));
  g.node.push(makeNode('Mul', [`${out}_read`, 'blank_zero'], [`${out}_zero`]), makeNode('Add', [`${out}_zero`, 'blank_onehot'], [out]));
  return m;
}
