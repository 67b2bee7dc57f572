import { describe, expect, it } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import { compareModels } from '../../src/onnx/analysis/compare-models.js';
import { quantizeModel } from '../../src/onnx/quantize-model.js';
import { withNodeNames } from '../../src/onnx/analysis/sensitivity-layers.js';
import { analyzeSensitivity } from '../../src/onnx/analysis/sensitivity.js';
import { batchOf, threeLayerModel } from './compare-fixtures.js';
import { convModel, randomWeights } from './models.js';

const run = createOrtRunner();
const batches = () => [batchOf([4, 64], 5, true), batchOf([4, 64], 6, true)];

describe('analyzeSensitivity', () => {
  it('ranks the deliberately fragile layer first, and each figure is the error of that layer alone', async () => {
    const model = threeLayerModel();
    const progress: number[] = [];
    const { report } = await analyzeSensitivity(model, run, batches, { onProgress: (e) => progress.push(e.done) });
    expect(report.precisions).toEqual(['int8', 'int4']);
    expect(report.batches).toBe(2);
    expect(report.layers.map((l) => l.node)).toEqual(['fragile', 'dense', 'exact4']);
    const fragile = report.layers[0]!.results.int8!;
    expect(fragile.status).toBe('measured');
    if (fragile.status !== 'measured') return;
    expect(fragile.error).toBeGreaterThan(0.5);
    // Alone: quantizing only 'fragile' per channel int8 gives the same error compareModels measures.
    const { model: only } = await quantizeModel(model, { dtype: 'int8', perChannel: true, exclude: ['exact4', 'dense'] });
    expect((await compareModels(model, only, run, batches, { layers: false })).error).toBeCloseTo(fragile.error, 12);
    expect(fragile).toMatchObject({ weightBytesBefore: 64 * 64 * 4, form: 'Cast+Mul' });
    const exact = report.layers[2]!.results;
    expect(exact.int4).toMatchObject({ status: 'measured', form: 'com.microsoft.MatMulNBits' });
    if (exact.int4?.status === 'measured') expect(exact.int4.error).toBeLessThan(1e-5);
    const dense = report.layers[1]!.results;
    if (dense.int4?.status === 'measured' && dense.int8?.status === 'measured') expect(dense.int4.error).toBeGreaterThan(dense.int8.error * 4);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
    expect(report.skipped).toEqual([]);
  });

  it('marks int4 not applicable where quantizeModel cannot write it (Conv below opset 21), with the reason', async () => {
    const { report } = await analyzeSensitivity(convModel(), run, () => [{ x: { name: 'x', dtype: 'float32', dims: [1, 3, 8, 8], values: randomWeights(192, 3) } }]);
    expect(report.layers).toHaveLength(1);
    expect(report.layers[0]!.results.int8?.status).toBe('measured');
    expect(report.layers[0]!.results.int4).toEqual({ status: 'not-applicable', reason: expect.stringMatching(/opset 21/) });
  });

  it('names unnamed nodes so each layer can be quantized alone, and lists nodes no precision can quantize', async () => {
    const g = makeGraph({
      nodes: [makeNode('MatMul', ['x', 'W'], ['h']), makeNode('MatMul', ['h', 'x2'], ['y'])],
      inputs: [makeValueInfo('x', 'float32', [1, 8]), makeValueInfo('x2', 'float32', [8, 4])],
      outputs: [makeValueInfo('y', 'float32', [1, 4])],
      initializers: [makeTensor('W', 'float32', [8, 8], randomWeights(64, 1))],
    });
    const m = makeModel(g, { '': 17 });
    expect(withNodeNames(m).graph!.node.map((n) => n.name)).toEqual(['MatMul_0', 'MatMul_1']);
    expect(m.graph!.node[0]!.name).toBe('');
    // A name already taken is not reused.
    const taken = withNodeNames(m);
    taken.graph!.node[1]!.name = '';
    taken.graph!.node[0]!.name = 'MatMul_0';
    expect(withNodeNames(taken).graph!.node.map((n) => n.name)).toEqual(['MatMul_0', 'MatMul_0_1']);
    const feed = { x: { name: 'x', dtype: 'float32' as const, dims: [1, 8], values: randomWeights(8, 2) }, x2: { name: 'x2', dtype: 'float32' as const, dims: [8, 4], values: randomWeights(32, 3) } };
    const { report } = await analyzeSensitivity(m, run, () => [feed], { precisions: ['int8'] });
    expect(report.layers.map((l) => l.node)).toEqual(['MatMul_0']);
    expect(report.skipped).toEqual([{ node: 'MatMul_1', opType: 'MatMul', reason: expect.stringMatching(/^int8: input 'x2' is computed at run time/) }]);
  });

  it('rejects an empty list of precisions and an empty batch source', async () => {
    await expect(analyzeSensitivity(threeLayerModel(), run, batches, { precisions: [] })).rejects.toThrow(/expected at least one precision/);
    await expect(analyzeSensitivity(threeLayerModel(), run, () => [])).rejects.toThrow(/no input batches/);
  });
});

describe('analyzeSensitivity with a metric', () => {
  it('measures each layer alone by the metric asked for, as compareModels does, with the float model’s own figure as baseline', async () => {
    const model = threeLayerModel();
    const { report } = await analyzeSensitivity(model, run, batches, { precisions: ['int8'], metric: 'kl' });
    expect(report.metric).toBe('kl');
    expect(report.baseline).toBe(0);
    expect(report.layers[0]!.node).toBe('fragile');
    const fragile = report.layers[0]!.results.int8!;
    if (fragile.status !== 'measured') throw new Error('fragile not measured');
    const { model: only } = await quantizeModel(model, { dtype: 'int8', perChannel: true, exclude: ['exact4', 'dense'] });
    const cmp = await compareModels(model, only, run, batches, { layers: false, metric: 'kl' });
    expect(cmp.metric).toBe('kl');
    expect(fragile.error).toBeCloseTo(cmp.error, 12);
    // KL is not relative RMS: the figure changed with the metric.
    expect(fragile.error).not.toBeCloseTo((await compareModels(model, only, run, batches, { layers: false })).error, 3);
  });

  it('rejects a metric output the model does not have before running anything', async () => {
    let ran = false;
    const spy: typeof run = async (...args) => {
      ran = true;
      return run(...args);
    };
    await expect(analyzeSensitivity(threeLayerModel(), spy, batches, { metric: { kind: 'kl', outputs: ['logits'] } })).rejects.toThrow(/metric kl: the model has no output 'logits': expected one of y/);
    expect(ran).toBe(false);
  });
});
