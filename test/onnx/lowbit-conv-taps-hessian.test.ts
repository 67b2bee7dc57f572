import type { ModelProto } from 'onnx-buf';
import { describe, expect, it, vi } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { quantizeBlockedWeight } from '../../src/onnx/modes/weight-only/blocked-weight.js';
import type { LayerStats } from '../../src/onnx/modes/weight-only/layer-stats.js';
import { createLayerStats } from '../../src/onnx/modes/weight-only/layer-stats.js';
import type { WeightLayer } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { calibrateWeightLayers } from '../../src/onnx/modes/weight-only/weight-calibration.js';
import { captureLayerStats } from './capture-layer-stats.js';
import type { TensorMap } from '../../src/onnx/run-model.js';
import { randomWeights } from './models.js';
import { runOrt } from './run-ort.js';

vi.setConfig({ testTimeout: 120_000 });

interface Conv2d {
  readonly kernel: [number, number];
  readonly strides: [number, number];
  /** [top, left, bottom, right] */
  readonly pads: [number, number, number, number];
  readonly dilations: [number, number];
  readonly group: number;
  readonly cin: number;
}

const H = 7;
const W = 8;
const C = 3;
/** Depthwise 3×3, stride 2, uneven pads. */
const DW: Conv2d = { kernel: [3, 3], strides: [2, 2], pads: [1, 0, 2, 1], dilations: [1, 1], group: C, cin: 1 };
/** 3 inputs, group 1, 3×3 with a dilation and unequal strides. */
const FULL: Conv2d = { kernel: [3, 3], strides: [1, 2], pads: [1, 1, 0, 2], dilations: [2, 1], group: 1, cin: C };

const attrs = (c: Conv2d) => ({ group: c.group, kernel_shape: c.kernel, strides: c.strides, pads: c.pads, dilations: c.dilations });

/** x [n, 3, 7, 8] feeds both Convs. */
function twoConvModel(): ModelProto {
  return makeModel(
    makeGraph({
      nodes: [makeNode('Conv', ['x', 'Wd'], ['yd'], { name: 'dw', attributes: attrs(DW) }), makeNode('Conv', ['x', 'Wf'], ['yf'], { name: 'full', attributes: attrs(FULL) })],
      inputs: [makeValueInfo('x', 'float32', ['n', C, H, W])],
      outputs: [makeValueInfo('yd', 'float32'), makeValueInfo('yf', 'float32')],
      initializers: [makeTensor('Wd', 'float32', [C, 1, 3, 3], randomWeights(C * 9, 1)), makeTensor('Wf', 'float32', [4, C, 3, 3], randomWeights(4 * C * 9, 2))],
    }),
    { '': 21 },
  );
}

/**
 * Σ patchᵀ·patch and the patch count of group `g` by the definition: for every batch item and output
 * position (oh, ow), patch[c·kh·kw + i·kw + j] = x[n, g·cin + c, oh·sh − top + i·dh, ow·sw − left + j·dw], 0 outside.
 */
function referenceSums(x: Float32Array, n: number, c: Conv2d, g: number, sum: Float64Array): number {
  const [kh, kw] = c.kernel;
  const cols = c.cin * kh * kw;
  const oh = Math.floor((H + c.pads[0] + c.pads[2] - ((kh - 1) * c.dilations[0] + 1)) / c.strides[0]) + 1;
  const ow = Math.floor((W + c.pads[1] + c.pads[3] - ((kw - 1) * c.dilations[1] + 1)) / c.strides[1]) + 1;
  const patch = new Float64Array(cols);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < oh; p++) {
      for (let q = 0; q < ow; q++) {
        for (let ch = 0; ch < c.cin; ch++) {
          for (let i = 0; i < kh; i++) {
            for (let j = 0; j < kw; j++) {
              const h = p * c.strides[0] - c.pads[0] + i * c.dilations[0];
              const w = q * c.strides[1] - c.pads[1] + j * c.dilations[1];
              patch[ch * kh * kw + i * kw + j] = h < 0 || h >= H || w < 0 || w >= W ? 0 : x[((b * C + g * c.cin + ch) * H + h) * W + w]!;
            }
          }
        }
        for (let r = 0; r < cols; r++) for (let s = 0; s < cols; s++) sum[r * cols + s] += patch[r]! * patch[s]!;
      }
    }
  }
  return n * oh * ow;
}

const perAxis = { form: 'dequantize-linear', dtype: 'int4', symmetric: true, granularity: { kind: 'per-axis', axis: 0 }, domain: '', reduceRange: false } as const;

function layerOf(m: ModelProto, node: string, weight: string, c: Conv2d): WeightLayer {
  const n = m.graph!.node.find((x) => x.name === node)!;
  const tensor = m.graph!.initializer.find((t) => t.name === weight)!;
  return { node: n, tensor: 'x', channelAxis: 1, cols: c.cin, groups: c.group, weightInput: 1, weights: [{ name: weight, tensor, scheme: perAxis, use: undefined }] };
}

describe('the per-tap (im2col) Hessian of per-output-channel and taps-blocked Conv weights', () => {
  it('equals 2/N·Σ patchᵀ·patch from the definition over two batches of different sizes (depthwise stride 2 with pads; 3 inputs, group 1, dilated)', async () => {
    const m = twoConvModel();
    const batches = [2, 3].map((n, k) => ({ n, x: randomWeights(n * C * H * W, 30 + k) }));
    const data = (): TensorMap[] => batches.map((b) => ({ x: { name: 'x', dtype: 'float32', dims: [b.n, C, H, W], values: b.x } }));
    const { stats: got } = await captureLayerStats(m, [layerOf(m, 'dw', 'Wd', DW), layerOf(m, 'full', 'Wf', FULL)], data, { hessian: true });
    for (const [name, conv] of [
      ['Wd', DW],
      ['Wf', FULL],
    ] as const) {
      const stats = got.get(name)!;
      expect(stats).toHaveLength(conv.group);
      const cols = conv.cin * 9;
      stats.forEach((s, g) => {
        const sum = new Float64Array(cols * cols);
        const count = batches.reduce((a, b) => a + referenceSums(b.x, b.n, conv, g, sum), 0);
        expect(s.patchHessian!.cols).toBe(cols);
        expect(s.patchHessian!.samples).toBe(count);
        const want = sum.map((v) => (2 * v) / count);
        const h = s.patchHessian!.hessian();
        const scale = want.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
        expect(scale).toBeGreaterThan(0);
        for (let i = 0; i < want.length; i++) expect(Math.abs(h[i]! - want[i]!)).toBeLessThanOrEqual(1e-12 * scale);
      });
    }
  });

  it('is computed for a layer blocked along its input channels where they tile its blocks (GPTQ runs under it: quantizeChannelsBlockedGptq), not where they do not', async () => {
    const m = twoConvModel();
    const layer = layerOf(m, 'full', 'Wf', FULL);
    const blockedBy = (blockSize: number): WeightLayer => ({ ...layer, weights: [{ ...layer.weights[0]!, scheme: { ...perAxis, granularity: { kind: 'per-block', axis: 1, blockSize } } as const }] });
    const x = randomWeights(C * H * W, 3);
    for (const [blockSize, patches] of [
      [32, true],
      [3, true],
      [2, false],
    ] as const) {
      let stats: readonly LayerStats[] = [];
      await calibrateWeightLayers(m, [blockedBy(blockSize)], {
        runModel: createOrtRunner(),
        data: () => [{ x: { name: 'x', dtype: 'float32', dims: [1, C, H, W], values: x } }],
        hessian: true,
        sample: false,
        sequential: false,
        quantizeLayer: (_, s) => {
          stats = s;
          return [];
        },
      });
      expect(stats[0]!.hessian).toBeDefined();
      if (!patches) {
        // 3 channels in blocks of 2: the second block of a tap is one channel, no equal runs of tap-major columns.
        expect(stats[0]!.patchHessian).toBeUndefined();
        continue;
      }
      const sum = new Float64Array(C * 9 * C * 9);
      const count = referenceSums(x, 1, FULL, 0, sum);
      expect(stats[0]!.patchHessian!.samples).toBe(count);
      const want = sum.map((v) => (2 * v) / count);
      const h = stats[0]!.patchHessian!.hessian();
      const scale = want.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      for (let i = 0; i < want.length; i++) expect(Math.abs(h[i]! - want[i]!)).toBeLessThanOrEqual(1e-12 * scale);
    }
  });

  it('folds a stratified HESSIAN_ROWS of a batch\'s patches into a channel-blocked Conv\'s patch Hessian, and every patch into a depthwise one\'s', async () => {
    // 2 × 48 × 48 positions, pad 1: 4608 patches a batch, past HESSIAN_ROWS (4096).
    const m = makeModel(
      makeGraph({
        nodes: [makeNode('Conv', ['x', 'Wf'], ['yf'], { name: 'full', attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } }), makeNode('Conv', ['x', 'Wd'], ['yd'], { name: 'dw', attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: C } })],
        inputs: [makeValueInfo('x', 'float32', ['n', C, 48, 48])],
        outputs: [makeValueInfo('yf', 'float32'), makeValueInfo('yd', 'float32')],
        initializers: [makeTensor('Wf', 'float32', [4, C, 3, 3], randomWeights(4 * C * 9, 5)), makeTensor('Wd', 'float32', [C, 1, 3, 3], randomWeights(C * 9, 6))],
      }),
      { '': 21 },
    );
    const layer = (node: string, weight: string, cin: number, groups: number, granularity: { kind: 'per-axis'; axis: 0 } | { kind: 'per-block'; axis: 1; blockSize: number }): WeightLayer => ({
      node: m.graph!.node.find((x) => x.name === node)!,
      tensor: 'x',
      channelAxis: 1,
      cols: cin,
      groups,
      weightInput: 1,
      weights: [{ name: weight, tensor: m.graph!.initializer.find((t) => t.name === weight)!, scheme: { ...perAxis, granularity }, use: undefined }],
    });
    const data = (): TensorMap[] => [0, 1].map((k) => ({ x: { name: 'x', dtype: 'float32', dims: [2, C, 48, 48], values: randomWeights(2 * C * 48 * 48, 70 + k) } }));
    const { stats } = await captureLayerStats(m, [layer('full', 'Wf', C, 1, { kind: 'per-block', axis: 1, blockSize: 32 }), layer('dw', 'Wd', 1, C, { kind: 'per-axis', axis: 0 })], data, { hessian: true });
    expect(stats.get('Wf')![0]!.patchHessian!.samples).toBe(2 * 4096);
    for (const s of stats.get('Wd')!) expect(s.patchHessian!.samples).toBe(2 * 4608);
  });

  /** Channels of a smooth field (neighbouring taps strongly correlated) times per-channel gains, plus a little noise. */
  function smoothInput(n: number, channels: number, size: number, seed: number): Float32Array {
    const noise = randomWeights(n * channels * size * size, seed);
    const field = randomWeights(n * 4, seed + 1);
    const out = new Float32Array(noise.length);
    for (let b = 0; b < n; b++) {
      for (let c = 0; c < channels; c++) {
        for (let h = 0; h < size; h++) {
          for (let w = 0; w < size; w++) {
            const i = ((b * channels + c) * size + h) * size + w;
            const f = field[b * 4]! + field[b * 4 + 1]! * Math.sin(h / 3) + field[b * 4 + 2]! * Math.cos(w / 4) + field[b * 4 + 3]! * Math.sin((h + w) / 5);
            out[i] = (1 + c / 4) * f + 0.1 * noise[i]!;
          }
        }
      }
    }
    return out;
  }

  it('gptq on a depthwise Conv with correlated inputs has lower output error than search and rtn, and says gptq', async () => {
    const ch = 8;
    const size = 12;
    const filters = randomWeights(ch * 9, 41).map((v, i) => v * (1 + Math.floor(i / 9) / 2));
    const m = makeModel(
      makeGraph({
        nodes: [makeNode('Conv', ['x', 'W'], ['y'], { name: 'dw', attributes: { group: ch, kernel_shape: [3, 3], pads: [1, 1, 1, 1] } })],
        inputs: [makeValueInfo('x', 'float32', ['n', ch, size, size])],
        outputs: [makeValueInfo('y', 'float32')],
        initializers: [makeTensor('W', 'float32', [ch, 1, 3, 3], filters)],
      }),
      { '': 21 },
    );
    const cal = [0, 1, 2].map((k) => ({ x: { name: 'x', dtype: 'float32' as const, dims: [4, ch, size, size], values: smoothInput(4, ch, size, 50 + 2 * k) } }));
    const hooks = { runModel: createOrtRunner(), calibrationData: () => cal };
    const test = { x: { dims: [8, ch, size, size], data: smoothInput(8, ch, size, 90) } };
    const want = (await runOrt(m, test)).y!;
    const errors = new Map<string, number>();
    for (const method of ['rtn', 'search', 'gptq'] as const) {
      const { model: q, report } = await quantizeModel(m, { dtype: 'int3', blockSize: 32, method }, hooks);
      expect(report.nodes[0]).toMatchObject({ status: 'quantized', granularity: 'per-channel', axis: 0, ...(method !== 'rtn' && { method }) });
      if (method === 'gptq') expect(report.nodes[0]).not.toHaveProperty('methodNote');
      const got = (await runOrt(q, test)).y!;
      errors.set(method, got.reduce((s, v, i) => s + (v - want[i]!) ** 2, 0));
    }
    expect(errors.get('gptq')!).toBeLessThan(errors.get('search')!);
    expect(errors.get('gptq')!).toBeLessThan(errors.get('rtn')!);
  });

  /** An AR(1) signal per batch item (x_t = 0.97·x_{t−1} + noise): neighbouring samples strongly correlated, as audio is. */
  function audio(n: number, len: number, seed: number): Float32Array {
    const noise = randomWeights(n * len, seed);
    const out = new Float32Array(n * len);
    for (let b = 0; b < n; b++) for (let t = 1; t < len; t++) out[b * len + t] = 0.97 * out[b * len + t - 1]! + 0.2 * noise[b * len + t]!;
    return out;
  }

  it('gptq on a one-input filter bank blocked along its taps (an STFT front end) is calibrated on its patch Hessian and has lower output error than search and rtn', async () => {
    // W [16, 1, 128], stride 32: fewer input channels than a block, so blocks of 32 run along the taps (convTapsBlockAxis).
    const m = makeModel(
      makeGraph({
        nodes: [makeNode('Conv', ['x', 'W'], ['y'], { name: 'stft', attributes: { kernel_shape: [128], strides: [32] } })],
        inputs: [makeValueInfo('x', 'float32', ['n', 1, 1024])],
        outputs: [makeValueInfo('y', 'float32')],
        initializers: [makeTensor('W', 'float32', [16, 1, 128], randomWeights(16 * 128, 61))],
      }),
      { '': 21 },
    );
    const cal = [0, 1, 2].map((k) => ({ x: { name: 'x', dtype: 'float32' as const, dims: [4, 1, 1024], values: audio(4, 1024, 70 + k) } }));
    const hooks = { runModel: createOrtRunner(), calibrationData: () => cal };
    const test = { x: { dims: [8, 1, 1024], data: audio(8, 1024, 99) } };
    const want = (await runOrt(m, test)).y!;
    const errors = new Map<string, number>();
    for (const method of ['rtn', 'search', 'gptq'] as const) {
      const { model: q, report } = await quantizeModel(m, { dtype: 'int4', blockSize: 32, method }, hooks);
      expect(report.nodes[0]).toMatchObject({ status: 'quantized', granularity: 'per-block', axis: 2, blockSize: 32, ...(method !== 'rtn' && { method }) });
      if (method === 'gptq') expect(report.nodes[0]).not.toHaveProperty('methodNote');
      const got = (await runOrt(q, test)).y!;
      errors.set(method, got.reduce((s, v, i) => s + (v - want[i]!) ** 2, 0));
    }
    expect(errors.get('gptq')!).toBeLessThan(0.6 * errors.get('search')!);
    expect(errors.get('gptq')!).toBeLessThan(0.6 * errors.get('rtn')!);
  });

  it('gptq on a per-output-channel weight no calibration batch reached says so, not that its statistics are per input channel', () => {
    const options = { dtype: 'int4', symmetric: true, blockSize: 32, method: 'gptq', damp: 0.01, actOrder: false, perChannel: true } as const;
    const r = quantizeBlockedWeight(randomWeights(4 * 9, 5), [4, 1, 3, 3], 0, options, [0, 1, 2, 3].map(() => createLayerStats(1, true, false, 9)));
    expect(r).toMatchObject({ method: 'search', fallback: expect.stringContaining('no calibration inputs reach this weight') });
  });
});
