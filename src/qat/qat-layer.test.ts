import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../core/random.js';
import { roundHalfEven } from '../core/round.js';
import { prepareQat, qatLayers } from './prepare-qat.js';
import type { QatLayer } from './qat-layer.js';
import { calibrateQat, freezeObservers, qatOptimizer } from './qat-training.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function randoms(seed: number, n: number, lo = -1, hi = 1): Float32Array {
  const r = createRng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** One fake quantizer with its rounding offset frozen at the base point: the function whose exact gradient STE and LSQ compute. */
function surrogate(v0: number, s0: number, z: number, qmin: number, qmax: number) {
  const t = v0 / s0;
  const q = roundHalfEven(Math.fround(t)) + z;
  const c = q - z - t;
  return (v: number, s: number) => (q < qmin ? s * (qmin - z) : q > qmax ? s * (qmax - z) : v + s * c);
}

describe('QatLayer gradients against finite differences', () => {
  // Dense 4 → 3 with ReLU; rank-2 data so the reference is a few loops in float64.
  const N = 6;
  const IN = 4;
  const OUT = 3;
  function setup(config: Record<string, unknown>) {
    const m = tf.sequential();
    m.add(tf.layers.dense({ inputShape: [IN], units: OUT, activation: 'relu', name: 'fc', kernelInitializer: tf.initializers.randomUniform({ minval: -1, maxval: 1, seed: 3 }), biasInitializer: tf.initializers.constant({ value: 0.3 }) }));
    const q = prepareQat(m, config);
    const x = tf.tensor2d(randoms(5, N * IN), [N, IN]);
    calibrateQat(q, x);
    freezeObservers(q);
    const { input, layers } = qatLayers(q);
    return { q, x, input, fc: layers[0]! as QatLayer };
  }

  /** L = Σ r ⊙ fc(x̂), in float64 with each quantizer's rounding frozen at the base point. */
  function reference(fc: QatLayer, xq: Float32Array, r: Float32Array) {
    const w0 = Float64Array.from(fc.foldedWeights().weight.dataSync());
    const b0 = Float64Array.from(fc.foldedWeights().bias!.dataSync());
    const wp = fc.weightQuantizer.params([IN, OUT]);
    const ap = fc.activationQuantizer.params([1]);
    const bs = fc.biasScale();
    const wq = Array.from(w0, (w, i) => surrogate(w, wp.scale[i % OUT]!, wp.zeroPoint[i % OUT]!, wp.qmin, wp.qmax));
    const bq = Array.from(b0, (b, c) => surrogate(b, bs[c]!, 0, -(2 ** 31), 2 ** 31 - 1));
    const pre = (w: Float64Array, b: Float64Array, sw: Float64Array) =>
      Array.from({ length: N * OUT }, (_, k) => {
        const n = Math.floor(k / OUT);
        const c = k % OUT;
        let y = bq[c]!(b[c]!, bs[c]!);
        for (let i = 0; i < IN; i++) y += xq[n * IN + i]! * wq[i * OUT + c]!(w[i * OUT + c]!, sw[c]!);
        return Math.max(y, 0);
      });
    const sw0 = Float64Array.from({ length: OUT }, (_, c) => wp.scale[c]!);
    const y0 = pre(w0, b0, sw0);
    const aq = y0.map((v) => surrogate(v, ap.scale[0]!, ap.zeroPoint[0]!, ap.qmin, ap.qmax));
    const loss = (w: Float64Array, b: Float64Array, sw: Float64Array, sa: number) => pre(w, b, sw).reduce((acc, v, k) => acc + r[k]! * aq[k]!(v, sa), 0);
    return { w0, b0, sw0, sa0: ap.scale[0]!, loss };
  }

  function fd(f: (h: number) => number, h = 1e-6): number {
    return (f(h) - f(-h)) / (2 * h);
  }

  it('STE: the kernel and bias gradients are the straight-through network gradient', () => {
    const { x, input, fc } = setup({ quantizationType: 'INT4' });
    const r = randoms(7, N * OUT);
    const xq = input.activationQuantizer.apply(x).dataSync() as Float32Array;
    const { w0, b0, sw0, sa0, loss } = reference(fc, xq, r);
    const [kernel, bias] = fc.trainableWeights.map((v) => v.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => tf.mul(fc.apply(tf.tensor2d(xq, [N, IN]), { training: true }) as tf.Tensor, tf.tensor2d(r, [N, OUT])).sum() as tf.Scalar, [kernel!, bias!]);
    const gk = grads[kernel!.name]!.dataSync();
    const gb = grads[bias!.name]!.dataSync();
    let nonZero = 0;
    for (let i = 0; i < w0.length; i++) {
      const want = fd((h) => loss(w0.map((w, j) => (j === i ? w + h : w)), b0, sw0, sa0));
      if (want !== 0) nonZero++;
      expect(gk[i]).toBeCloseTo(want, 4);
    }
    for (let c = 0; c < b0.length; c++) expect(gb[c]).toBeCloseTo(fd((h) => loss(w0, b0.map((b, j) => (j === c ? b + h : b)), sw0, sa0)), 4);
    expect(nonZero).toBeGreaterThan(0);
  });

  it("LSQ: the scale gradients are the network's gradient times the LSQ gradient scale", () => {
    const { x, input, fc } = setup({ quantizationType: 'INT4', learnable: 'lsq' });
    const r = randoms(9, N * OUT);
    const xq = input.activationQuantizer.apply(x).dataSync() as Float32Array;
    const { w0, b0, sw0, sa0, loss } = reference(fc, xq, r);
    const ws = fc.weightQuantizer.lsqVariables!.scale.read() as tf.Variable;
    const as = fc.activationQuantizer.lsqVariables!.scale.read() as tf.Variable;
    // The bias scale follows the weight scale; hold it (the reference does) by differentiating only the two LSQ scales.
    const { grads } = tf.variableGrads(() => tf.mul(fc.apply(tf.tensor2d(xq, [N, IN]), { training: true }) as tf.Tensor, tf.tensor2d(r, [N, OUT])).sum() as tf.Scalar, [ws, as]);
    const gw = grads[ws.name]!.dataSync();
    const ga = grads[as.name]!.dataSync();
    // The LSQ paper's g = 1/√(N·Q_P): N a weight scale's elements (per channel here: one channel's
    // IN weights, not the tensor's IN·OUT) or an activation's features per example (OUT, not the
    // batch's N·OUT); Q_P 7 for symmetric int4 weights, 15 for the asymmetric int4 activation.
    const gWeight = 1 / Math.sqrt(IN * 7);
    const gAct = 1 / Math.sqrt(OUT * 15);
    for (let c = 0; c < OUT; c++) expect(gw[c]).toBeCloseTo(gWeight * fd((h) => loss(w0, b0, sw0.map((s, j) => (j === c ? s + h : s)), sa0)), 4);
    expect(ga[0]).toBeCloseTo(gAct * fd((h) => loss(w0, b0, sw0, sa0 + h)), 4);
    expect(Math.abs(ga[0]!)).toBeGreaterThan(0);
  });
});

describe('LSQ gradient scale', () => {
  it("does not shrink an activation scale's step with the batch: N counts one example's features", () => {
    const m = tf.sequential();
    m.add(tf.layers.dense({ inputShape: [4], units: 3, activation: 'relu', name: 'fc', kernelInitializer: tf.initializers.randomUniform({ minval: -1, maxval: 1, seed: 3 }) }));
    const q = prepareQat(m, { quantizationType: 'INT4', learnable: 'lsq' });
    const one = tf.tensor2d(randoms(11, 4), [1, 4]);
    calibrateQat(q, one);
    freezeObservers(q);
    const fc = qatLayers(q).layers[0]! as QatLayer;
    const as = fc.activationQuantizer.lsqVariables!.scale.read() as tf.Variable;
    const r = tf.tensor2d(randoms(13, 3), [1, 3]);
    // A mean loss over 8 copies of one example is that example's loss: so is every gradient of it.
    const grad = (copies: number) =>
      tf.variableGrads(() => tf.mean(tf.sum(tf.mul(fc.apply(tf.tile(one, [copies, 1]), { training: true }) as tf.Tensor, r), 1)) as tf.Scalar, [as]).grads[as.name]!.dataSync()[0]!;
    const single = grad(1);
    expect(Math.abs(single)).toBeGreaterThan(0);
    expect(grad(8)).toBeCloseTo(single, 6);
  });
});

describe('observers and BatchNorm freezing', () => {
  function convBn() {
    const m = tf.sequential();
    m.add(tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, padding: 'same', useBias: false, name: 'conv', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
    m.add(tf.layers.batchNormalization({ name: 'bn', gammaInitializer: tf.initializers.constant({ value: 1.5 }), movingMeanInitializer: tf.initializers.constant({ value: 0.2 }), movingVarianceInitializer: tf.initializers.constant({ value: 2 }) }));
    m.add(tf.layers.reLU({ name: 'relu' }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 2, name: 'head', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
    return m;
  }
  const x = tf.tensor4d(randoms(11, 8 * 6 * 6 * 2), [8, 6, 6, 2]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1, 1, 0, 0, 1], 'int32'), 2);
  const loss = (a: tf.Tensor, b: tf.Tensor) => tf.losses.softmaxCrossEntropy(a, b);

  async function steps(q: tf.Sequential, n: number) {
    for (let i = 0; i < n; i++) await q.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
  }

  it('observers stop after freezeObserversAfter training steps, and at freezeObservers', async () => {
    const q = prepareQat(convBn(), { quantizationType: 'INT8', freezeObserversAfter: 2 });
    q.compile({ optimizer: tf.train.sgd(0.1), loss });
    const conv = qatLayers(q).layers[0]!;
    const seen = () => [conv.weightQuantizer.observer.count, conv.activationQuantizer.observer.count];
    await steps(q, 1);
    const one = seen();
    await steps(q, 1);
    const two = seen();
    expect(two[1]).toBe(2 * one[1]!);
    const ranges = conv.activationQuantizer.range();
    await steps(q, 2);
    expect(seen()).toEqual(two);
    expect(conv.activationQuantizer.range()).toEqual(ranges);

    const never = prepareQat(convBn(), { quantizationType: 'INT8' });
    never.compile({ optimizer: tf.train.sgd(0.1), loss });
    await steps(never, 2);
    const layer = qatLayers(never).layers[0]!;
    const before = layer.activationQuantizer.observer.count;
    await steps(never, 1);
    expect(layer.activationQuantizer.observer.count).toBeGreaterThan(before);
    freezeObservers(never);
    const frozen = layer.activationQuantizer.observer.count;
    await steps(never, 1);
    expect(layer.activationQuantizer.observer.count).toBe(frozen);
  });

  it('LSQ scales start from the observer and learn, at scaleLr, once the observers are frozen', async () => {
    const q = prepareQat(convBn(), { quantizationType: 'INT4', learnable: 'lsq', freezeObserversAfter: 1, scaleLr: 0.05 });
    q.compile({ optimizer: qatOptimizer(q, tf.train.sgd(0)), loss });
    const conv = qatLayers(q).layers[0]!;
    const scale = () => conv.activationQuantizer.params([1]).scale[0]!;
    await steps(q, 1);
    const observed = conv.activationQuantizer.observer.qparams({ dtype: 'int4' }).scale[0]!;
    const afterOne = scale();
    // The step after the observer set the scale moved it by scaleLr times its gradient (the model's own weights have lr 0).
    expect(afterOne).not.toBe(observed);
    expect(Math.abs(afterOne - observed)).toBeLessThan(0.2 * observed);
    await steps(q, 2);
    expect(scale()).not.toBe(afterOne);
    expect(conv.activationQuantizer.observer.count).toBe(8 * 6 * 6 * 3);
    const kernel = conv.getWeights()[0]!.dataSync();
    await steps(q, 1);
    expect(conv.getWeights()[0]!.dataSync()).toEqual(kernel);
  });

  it("lsqInit 'mean-abs' starts the scales at the LSQ paper's 2·mean|x|/√Q_P, counting the levels above the zero point", () => {
    const byInit = (lsqInit: 'observer' | 'mean-abs') => {
      const q = prepareQat(convBn(), { quantizationType: 'INT4', learnable: 'lsq', lsqInit });
      // Two calibration batches: the mean runs over both.
      calibrateQat(q, x, 5);
      return qatLayers(q);
    };
    const { input, layers } = byInit('mean-abs');
    const conv = layers[0]!;
    // Weights: per channel, symmetric int4 (Q_P = 7), of the BatchNorm-folded kernel.
    const w = conv.foldedWeights().weight.dataSync();
    const ws = conv.weightQuantizer.params([3, 3, 2, 3]).scale;
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      for (let i = c; i < w.length; i += 3) sum += Math.abs(w[i]!);
      expect(ws[c]).toBeCloseTo((2 * (sum / (w.length / 3))) / Math.sqrt(7), 6);
    }
    // The input (asymmetric, per tensor): Q_P = 7 − z, z the observer's zero point.
    const xv = x.dataSync();
    const meanAbs = Array.from(xv).reduce((a, v) => a + Math.abs(v), 0) / xv.length;
    const z = input.activationQuantizer.params([1]).zeroPoint[0]!;
    expect(z).toBe(input.activationQuantizer.observer.qparams({ dtype: 'int4' }).zeroPoint[0]);
    expect(input.activationQuantizer.params([1]).scale[0]).toBeCloseTo((2 * meanAbs) / Math.sqrt(7 - z), 6);
    // After the ReLU, the zero point is qmin: Q_P = 15.
    expect(conv.activationQuantizer.params([1]).zeroPoint[0]).toBe(-8);
    // The default keeps the observer's scales.
    const observed = byInit('observer');
    expect(observed.input.activationQuantizer.params([1]).scale[0]).toBe(observed.input.activationQuantizer.observer.qparams({ dtype: 'int4' }).scale[0]);
    expect(observed.layers[0]!.weightQuantizer.params([3, 3, 2, 3]).scale).not.toEqual(ws);
  });

  it('BatchNorm statistics stop moving after freezeBatchNormAfter steps', async () => {
    const q = prepareQat(convBn(), { quantizationType: 'INT8', freezeBatchNormAfter: 1 });
    q.compile({ optimizer: tf.train.sgd(0), loss });
    const conv = qatLayers(q).layers[0]!;
    const stats = () => conv.getWeights().slice(-2).map((t) => Array.from(t.dataSync()));
    const initial = stats();
    await steps(q, 1);
    const moved = stats();
    expect(moved).not.toEqual(initial);
    await steps(q, 2);
    expect(stats()).toEqual(moved);
  });

  it('in eval mode the folded conv equals Conv → BatchNorm → ReLU of the float model (16-bit codes)', () => {
    const float = convBn();
    const q = prepareQat(float, { quantizationType: 'INT16' });
    calibrateQat(q, x);
    const conv = qatLayers(q).layers[0]!;
    const inner = tf.sequential({ layers: float.layers.slice(0, 3) });
    const want = (inner.predict(x) as tf.Tensor).dataSync();
    const xq = qatLayers(q).input.activationQuantizer.apply(x);
    const got = (conv.apply(xq, { training: false }) as tf.Tensor).dataSync();
    const step = conv.activationQuantizer.params([1]).scale[0]!;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    // 16-bit input, weights and output: the difference is a few output steps, far below any unfolded error (BN's shift alone is 0.2·1.5/√2).
    expect(worst).toBeLessThan(4 * step);
    expect(step).toBeLessThan(1e-3);
  });
});
