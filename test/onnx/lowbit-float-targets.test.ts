// GPTQ fitted to the float model (floatTargets) through the whole pipeline: a model deeper than one
// calibration pass, so its later layers are calibrated on inputs that drifted from the float
// model's, and fitted back toward them.
import { describe, expect, it, vi } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import type { TensorMap } from '../../src/onnx/run-model.js';
import { randomWeights } from './models.js';
import { relRms, runOrt } from './run-ort.js';

vi.setConfig({ testTimeout: 120_000 });

const K = 32;
const LAYERS = 10;
const ROWS = 64;

/** x [n, K] → (MatMul Wi [K, K] → Tanh) × LAYERS → y: deeper than a sequential pass of 4 layers. */
function deepModel() {
  const nodes = [];
  const inits = [];
  let prev = 'x';
  for (let i = 0; i < LAYERS; i++) {
    nodes.push(makeNode('MatMul', [prev, `W${i}`], [`m${i}`], { name: `mm${i}` }), makeNode('Tanh', [`m${i}`], [`t${i}`], { name: `tanh${i}` }));
    // Scaled so each layer keeps the activations' size: tanh stays in its curved range.
    inits.push(makeTensor(`W${i}`, 'float32', [K, K], randomWeights(K * K, 10 + i).map((v) => v / Math.sqrt(K / 3))));
    prev = `t${i}`;
  }
  return makeModel(makeGraph({ nodes, inputs: [makeValueInfo('x', 'float32', ['n', K])], outputs: [makeValueInfo(prev, 'float32', ['n', K])], initializers: inits }), { '': 21 });
}

/** Inputs whose channels mix a few shared factors (as features do), `seed` apart for calibration and evaluation. */
function inputs(seed: number): Float32Array {
  const z = randomWeights(ROWS * 4, seed);
  const a = randomWeights(4 * K, seed + 1);
  const noise = randomWeights(ROWS * K, seed + 2);
  return Float32Array.from({ length: ROWS * K }, (_, i) => {
    const t = Math.floor(i / K);
    const j = i % K;
    let v = 0.3 * noise[i]!;
    for (let f = 0; f < 4; f++) v += z[t * 4 + f]! * a[f * K + j]!;
    return v;
  });
}

/** x → MatMul Wq, MatMul Wk (both read x, as Q and K do) → Add → Tanh → MatMul Wo → y. */
function sharedInputModel() {
  const w = (name: string, seed: number) => makeTensor(name, 'float32', [K, K], randomWeights(K * K, seed).map((v) => v / Math.sqrt(K / 3)));
  const nodes = [
    makeNode('MatMul', ['x', 'Wq'], ['q'], { name: 'mq' }),
    makeNode('MatMul', ['x', 'Wk'], ['k'], { name: 'mk' }),
    makeNode('Add', ['q', 'k'], ['s'], { name: 'add' }),
    makeNode('Tanh', ['s'], ['t'], { name: 'tanh' }),
    makeNode('MatMul', ['t', 'Wo'], ['y'], { name: 'mo' }),
  ];
  return makeModel(makeGraph({ nodes, inputs: [makeValueInfo('x', 'float32', ['n', K])], outputs: [makeValueInfo('y', 'float32', ['n', K])], initializers: [w('Wq', 1), w('Wk', 2), w('Wo', 3)] }), { '': 21 });
}

describe('gptq with float targets', () => {
  it('calibrates the layers reading one input in one pass, and a layer they feed in the next', async () => {
    const calibration = (): TensorMap[] => [{ x: { name: 'x', dtype: 'float32', dims: [ROWS, K], values: inputs(7) } }];
    const { report } = await quantizeModel(sharedInputModel(), { mode: 'weight-only', dtype: 'int4', blockSize: 16, method: 'gptq', floatTargets: 1 }, { runModel: createOrtRunner(), calibrationData: calibration });
    expect((report as { calibration?: unknown }).calibration).toMatchObject({ layers: 3, passes: 2, floatTargets: true });
  });

  it('brings a deep model nearer the float model on held-out inputs than plain gptq, at int3', async () => {
    const m = deepModel();
    const calibration = (): TensorMap[] => [1, 2, 3, 4].map((s) => ({ x: { name: 'x', dtype: 'float32', dims: [ROWS, K], values: inputs(100 * s) } }));
    const heldOut = { x: { dims: [ROWS, K], data: inputs(999) } };
    const float = Object.values(await runOrt(m, heldOut))[0]!;
    const error = async (floatTargets: number) => {
      const { model, report } = await quantizeModel(m, { mode: 'weight-only', dtype: 'int3', blockSize: 16, method: 'gptq', floatTargets }, { runModel: createOrtRunner(), calibrationData: calibration });
      // Fitted to the float model, a pass holds one layer here (each reads another's output): each sees its inputs with every earlier fit applied (two layers of one pass would both correct the same drift).
      expect((report as { calibration?: unknown }).calibration).toMatchObject({ passes: floatTargets > 0 ? LAYERS : 3, sequential: true, floatTargets: floatTargets > 0 });
      return relRms(Object.values(await runOrt(model, heldOut))[0]!, float);
    };
    const plain = await error(0);
    const fitted = await error(1);
    const quarter = await error(0.25);
    // Measured: plain 0.357, share 1 0.234 (0.66x), share 0.25 0.238.
    expect(fitted / plain).toBeLessThan(0.8);
    expect(quarter / plain).toBeLessThan(0.8);
  });
});
