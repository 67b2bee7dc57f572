import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { decodeModel, encodeModel } from '../../src/formats/onnx/model.js';
import { makeTensor, readFloat32, readTensor } from '../../src/formats/onnx/tensor.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { convModel, mlpModel, randomWeights } from './models.js';
import { runOrt } from './run-ort.js';
import { dequantize2d, init, maxAbs, maxAbsDiff, nodeOf } from './weight-helpers.js';

const x64 = { x: { dims: [1, 64], data: randomWeights(64, 9) } };

describe('weight-only int8 as Cast+Mul (the default form)', () => {
  it('writes Cast → Mul on the codes (Sub for a zero point), which onnxruntime folds: outputs equal the float model on the dequantized weights', async () => {
    const m = mlpModel();
    for (const dtype of ['int8', 'uint8'] as const) {
      const { model: q, report } = await quantizeModel(m, { dtype, perChannel: true });
      expect(report.nodes.map((n) => n.status === 'quantized' && n.form)).toEqual(['Cast+Mul', 'Cast+Mul']);
      const ops = q.graph!.node.map((n) => n.opType);
      expect(ops).not.toContain('DequantizeLinear');
      expect(ops.filter((o) => o === 'Sub')).toHaveLength(dtype === 'uint8' ? 2 : 0);
      // Scales broadcast along the channel axis: W1 [64, 48] per column, W2 [16, 48] (transB) per row.
      expect(readTensor(init(q, 'W1_scale')).dims).toEqual([1, 48]);
      expect(readTensor(init(q, 'W2_scale')).dims).toEqual([16, 1]);
      // The same codes as the DequantizeLinear form; onnxruntime folds Cast+Mul into the float32 weights
      // DequantizeLinear defines, so the model computes what the float model on those weights computes.
      const { model: dq } = await quantizeModel(m, { dtype, perChannel: true, int8Form: 'dequantize-linear' });
      for (const name of ['W1', 'W2']) expect(readTensor(init(q, `${name}_quantized`)).values).toEqual(readTensor(init(dq, `${name}_quantized`)).values);
      const asFloat = mlpModel();
      const W1 = dequantize2d(dq, nodeOf(dq, 'DequantizeLinear')[0]!, [64, 48]);
      const W2 = dequantize2d(dq, nodeOf(dq, 'DequantizeLinear')[1]!, [16, 48]);
      asFloat.graph!.initializer = asFloat.graph!.initializer.map((t) => (t.name === 'W1' ? makeTensor('W1', 'float32', [64, 48], W1) : t.name === 'W2' ? makeTensor('W2', 'float32', [16, 48], W2) : t));
      const exact = (await runOrt(asFloat, x64)).y!;
      expect(maxAbsDiff((await runOrt(q, x64)).y!, exact)).toBeLessThanOrEqual(1e-6 * Math.max(1, maxAbs(exact)));
    }
  });

  it('writes Conv weights with [M, 1, 1, 1] scales, and keeps 4-bit blocked weights as DequantizeLinear', async () => {
    const { model: q } = await quantizeModel(convModel(), { perChannel: true });
    expect(readTensor(init(q, 'W_scale')).dims).toEqual([4, 1, 1, 1]);
    expect(q.graph!.node.map((n) => n.opType)).toEqual(['Cast', 'Mul', 'Conv']);
    const { model: q4 } = await quantizeModel(mlpModel(64, 48, 16, 21), { dtype: 'int4', int4Form: 'dequantize-linear', blockSize: 16 });
    expect(q4.graph!.node.map((n) => n.opType)).toContain('DequantizeLinear');
  });
});

describe('weight-only int8 as 8-bit MatMulNBits (on request)', () => {
  it('writes MatMul weights as MatMulNBits bits 8 (accuracy level 4), Gemm as Cast+Mul; onnxruntime stays within the bound of int8 activations', async () => {
    const m = mlpModel(64, 48, 16);
    const { model: q, report } = await quantizeModel(m, { int8Form: 'matmulnbits', blockSize: 16 });
    expect(report.nodes.map((n) => n.status === 'quantized' && `${n.form} ${n.granularity}`)).toEqual(['com.microsoft.MatMulNBits per-block', 'Cast+Mul per-tensor']);
    const nb = nodeOf(q, 'MatMulNBits')[0]!;
    expect(Object.fromEntries(nb.attribute.map((a) => [a.name, Number(a.i)]))).toEqual({ K: 64, N: 48, bits: 8, block_size: 16, accuracy_level: 4 });
    // Decoded independently: B [N, K/16, 16] unsigned codes, symmetric int8 shifted by 128 (the default zero point, so none stored).
    expect(nb.input).toHaveLength(3);
    const b = readTensor(init(q, nb.input[1]!));
    expect(b.dims).toEqual([48, 4, 16]);
    const codes = b.values as Uint8Array;
    const scales = readFloat32(init(q, nb.input[2]!));
    const W1 = readFloat32(init(m, 'W1'));
    const wq = new Float32Array(64 * 48);
    for (let n = 0; n < 48; n++) {
      for (let k = 0; k < 64; k++) {
        const s = scales[n * 4 + (k >> 4)]!;
        wq[k * 48 + n] = (codes[n * 64 + k]! - 128) * s;
        expect(Math.abs(wq[k * 48 + n]! - W1[k * 48 + n]!)).toBeLessThanOrEqual(s / 2 + 1e-7);
      }
    }
    // The MatMul alone, against x · Wq in float64: accuracy level 4 quantizes x to int8 symmetric per
    // block (scale max|x|/127 of the block, at most that of the row), so each element of x moves by at
    // most half a row step: |y - x·Wq| <= (max|x| / 254) · Σ_k |Wq[k, n]|, on any CPU (no saturation:
    // |x code| <= 127).
    const only = makeModel(makeGraph({ nodes: [nb], inputs: [makeValueInfo('x', 'float32', [2, 64])], outputs: [makeValueInfo('h0', 'float32', [2, 48])], initializers: q.graph!.initializer.filter((t) => nb.input.includes(t.name)) }), { '': 17, 'com.microsoft': 1 });
    const x = randomWeights(128, 21);
    const y = (await runOrt(only, { x: { dims: [2, 64], data: x } })).h0!;
    for (let r = 0; r < 2; r++) {
      const row = x.subarray(r * 64, (r + 1) * 64);
      const step = maxAbs(row) / 127;
      for (let n = 0; n < 48; n++) {
        let exact = 0;
        let col = 0;
        for (let k = 0; k < 64; k++) {
          exact += row[k]! * wq[k * 48 + n]!;
          col += Math.abs(wq[k * 48 + n]!);
        }
        expect(Math.abs(y[r * 48 + n]! - exact)).toBeLessThanOrEqual((step / 2) * col + 1e-5 * (1 + Math.abs(exact)));
      }
    }
  });
});

describe('onnxruntime folds the Cast+Mul weights when the session loads', () => {
  /** x → Conv (per-channel int8) → BatchNormalization → MatMul → y: what onnxruntime's optimizer keeps of a model (ops, in order). */
  function convBnModel() {
    const c = 4;
    const g = makeGraph({
      nodes: [
        makeNode('Conv', ['x', 'W', 'B'], ['c'], { name: 'conv', attributes: { kernel_shape: [3, 3] } }),
        makeNode('BatchNormalization', ['c', 'gamma', 'beta', 'mean', 'var'], ['n'], { name: 'bn' }),
        makeNode('Reshape', ['n', 'shape'], ['f'], { name: 'flat' }),
        makeNode('MatMul', ['f', 'M'], ['y'], { name: 'mm' }),
      ],
      inputs: [makeValueInfo('x', 'float32', [1, 3, 8, 8])],
      outputs: [makeValueInfo('y', 'float32', [1, 10])],
      initializers: [
        makeTensor('W', 'float32', [c, 3, 3, 3], randomWeights(108, 5)),
        makeTensor('B', 'float32', [c], randomWeights(c, 6)),
        makeTensor('gamma', 'float32', [c], randomWeights(c, 7).map((v) => 1 + v / 4)),
        makeTensor('beta', 'float32', [c], randomWeights(c, 8)),
        makeTensor('mean', 'float32', [c], randomWeights(c, 9)),
        makeTensor('var', 'float32', [c], randomWeights(c, 10).map((v) => 1 + v / 2)),
        makeTensor('shape', 'int64', [2], BigInt64Array.from([1n, -1n])),
        makeTensor('M', 'float32', [c * 36, 10], randomWeights(c * 360, 11)),
      ],
    });
    return makeModel(g, { '': 17 });
  }

  async function optimizedOps(model: Parameters<typeof encodeModel>[0]): Promise<string[]> {
    const dir = mkdtempSync(join(tmpdir(), 'qk-opt-'));
    try {
      const path = join(dir, 'opt.onnx');
      // 'extended': the fusions every CPU gets (no NCHWc layout, which depends on the machine).
      const s = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'extended', optimizedModelFilePath: path });
      await s.release();
      return decodeModel(readFileSync(path)).graph!.node.map((n) => `${n.domain ? `${n.domain}.` : ''}${n.opType}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('leaves the float model’s optimized graph (Conv+BatchNormalization fused, no weight arithmetic per run); DequantizeLinear stays', async () => {
    const m = convBnModel();
    const float = await optimizedOps(m);
    expect(float).not.toContain('BatchNormalization');
    const { model: q } = await quantizeModel(m, { perChannel: true });
    expect(q.graph!.node.map((n) => n.opType)).toEqual(['Cast', 'Mul', 'Cast', 'Mul', 'Conv', 'BatchNormalization', 'Reshape', 'MatMul']);
    expect(await optimizedOps(q)).toEqual(float);
    // The QDQ form is not folded: DequantizeLinear runs on every inference and the BatchNormalization stays.
    const { model: dq } = await quantizeModel(m, { perChannel: true, int8Form: 'dequantize-linear' });
    const dqOps = await optimizedOps(dq);
    expect(dqOps).toContain('DequantizeLinear');
    expect(dqOps).toContain('BatchNormalization');
  });
});
