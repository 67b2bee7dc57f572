import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModelProto } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import type { BlockedWeightPool } from '../../src/node/workers/blocked-weight-pool.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import type { QuantizeOptionsInput } from '../../src/onnx/quantize-options.js';
import type { TensorMap } from '../../src/onnx/run-model.js';
import { assertBuilt, REPO } from '../cli/helpers.js';
import { randomWeights } from './models.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 });

// Workers load compiled JavaScript: the pool under test is the built one (the tests' global setup builds it when stale).
type PoolModule = typeof import('../../src/node/workers/blocked-weight-pool.js');
let pool: BlockedWeightPool;

beforeAll(async () => {
  assertBuilt();
  const mod = (await import(pathToFileURL(join(REPO, 'dist/node/workers/blocked-weight-pool.js')).href)) as PoolModule;
  pool = mod.BlockedWeightPool.create(2);
});
afterAll(async () => {
  await pool.close();
});

/**
 * x [n, 48] → six MatMuls of varied widths with Relu between, and a Gemm (transB) at the end: two
 * calibration passes of four layers, later layers fed by quantized earlier ones.
 */
function chain(): ModelProto {
  const widths = [48, 64, 40, 72, 48, 56, 64];
  const nodes = [];
  const inits = [];
  let x = 'x';
  for (let i = 0; i < 6; i++) {
    inits.push(makeTensor(`W${i}`, 'float32', [widths[i]!, widths[i + 1]!], randomWeights(widths[i]! * widths[i + 1]!, 70 + i)));
    nodes.push(makeNode('MatMul', [x, `W${i}`], [`m${i}`], { name: `mm${i}` }));
    nodes.push(makeNode('Relu', [`m${i}`], [`r${i}`], { name: `relu${i}` }));
    x = `r${i}`;
  }
  inits.push(makeTensor('G', 'float32', [24, 64], randomWeights(24 * 64, 80)));
  nodes.push(makeNode('Gemm', [x, 'G'], ['y'], { name: 'gemm', attributes: { transB: 1 } }));
  const m = makeModel(makeGraph({ nodes, inputs: [makeValueInfo('x', 'float32', ['n', 48])], outputs: [makeValueInfo('y', 'float32', ['n', 24])], initializers: inits }), { '': 21 });
  m.irVersion = 10n;
  return m;
}

/** Correlated channels with a few loud ones, as real activations have. */
function inputs(rows: number, seed: number): TensorMap {
  const z = randomWeights(rows * 6, seed);
  const a = randomWeights(6 * 48, seed + 1);
  const x = randomWeights(rows * 48, seed + 2).map((v) => 0.2 * v);
  for (let r = 0; r < rows; r++) for (let c = 0; c < 48; c++) {
    for (let f = 0; f < 6; f++) x[r * 48 + c] += z[r * 6 + f]! * a[f * 48 + c]!;
    if (c % 11 === 2) x[r * 48 + c] *= 15;
  }
  return { x: { name: 'x', dtype: 'float32', dims: [rows, 48], values: x } };
}

describe('quantizing the layers of a calibration pass in worker threads', () => {
  const runModel = createOrtRunner();
  const calibrationData = () => [inputs(40, 1), inputs(56, 2)];

  for (const options of [
    { dtype: 'int4', method: 'gptq', blockSize: 16 },
    { dtype: 'int3', method: 'gptq', blockSize: 16, actOrder: true, int4Form: 'dequantize-linear', symmetric: false },
    { dtype: 'int4', method: 'awq', blockSize: 16 },
    { dtype: 'uint4', method: 'search', blockSize: 32 },
  ] satisfies QuantizeOptionsInput[]) {
    it(`gives a byte-identical model to the serial run: ${JSON.stringify(options)}`, async () => {
      const serial = await quantizeModel(chain(), options, { runModel, calibrationData });
      const before = pool.completed;
      const parallel = await quantizeModel(chain(), options, { runModel, calibrationData, quantizeBlocked: pool.run });
      // Every calibrated layer went through the workers (seven weights), so the equality below is not the serial path twice.
      expect(pool.completed - before).toBe(7);
      expect(parallel.report).toEqual(serial.report);
      expect(Buffer.from(encodeModel(parallel.model)).equals(Buffer.from(encodeModel(serial.model)))).toBe(true);
      expect(serial.report.nodes.filter((n) => n.status === 'quantized' && n.method === options.method)).toHaveLength(7);
    });
  }

  it('rejects with the error the serial run throws (a QuantError with the same code and message)', async () => {
    const { runBlockedWeightJob } = await import('../../src/onnx/modes/weight-only/blocked-weight-job.js');
    // A Hessian with a NaN: GPTQ refuses it (NAN_INPUT) rather than falling back.
    const matrix = Float64Array.from({ length: 16 }, (_, i) => (i === 5 ? Number.NaN : i % 5 === 0 ? 1 : 0));
    const stats = [{ cols: 4, rows: 3, sumAbs: new Float64Array(4), sumSq: new Float64Array(4), hessian: { samples: 3, matrix } }];
    const job = { values: new Float32Array(12), dims: [4, 3], axis: 0, options: { dtype: 'int4', symmetric: true, blockSize: 16, method: 'gptq', damp: 0.01, actOrder: false }, stats } as const;
    let serial: unknown;
    try {
      runBlockedWeightJob(job);
    } catch (e) {
      serial = e;
    }
    expect(serial).toMatchObject({ name: 'QuantError', code: 'NAN_INPUT' });
    await expect(pool.run(job)).rejects.toMatchObject({ name: 'QuantError', code: (serial as { code: string }).code, message: (serial as Error).message });
  });
});
