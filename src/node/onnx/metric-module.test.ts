import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { batchOf, classifierModel } from '../../../test/onnx/compare-fixtures.js';
import { tempDir, writeNpy } from '../../../test/cli/helpers.js';
import { QuantError } from '../../core/errors.js';
import { compareModels } from '../../onnx/analysis/compare-models.js';
import { quantizeModel } from '../../onnx/quantize-model.js';
import { loadMetricModule, readLabels } from './metric-module.js';
import { createOrtRunner } from './ort-runner.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function module(name: string, text: string): string {
  const path = tmp.path(name);
  writeFileSync(path, text);
  return path;
}

describe('loadMetricModule', () => {
  it('loads a default export, or one named metric, and compareModels calls it per batch with every output', async () => {
    // Mean absolute difference of the probabilities, as a user would write it.
    const path = module('mad.mjs', `export default (reference, candidate, batch) => {
      const a = reference.probs.data, b = candidate.probs.data;
      let s = 0;
      for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
      return s / a.length + (batch.count === 2 ? 0 : 1000);
    };`);
    const metric = await loadMetricModule(path);
    expect(metric.name).toBe(path);
    const a = classifierModel();
    const { model: b } = await quantizeModel(a, { dtype: 'int4', blockSize: 16 });
    const run = createOrtRunner();
    const cmp = await compareModels(a, b, run, () => [batchOf([8, 32], 3), batchOf([8, 32], 4)], { layers: false, metric });
    expect(cmp.metric).toBe(path);
    expect(cmp.figures).toEqual([]);
    const probs = cmp.outputs.find((o) => o.name === 'probs')!;
    // The mean of per-batch means over equal batches is the mean over all elements.
    expect(cmp.error).toBeCloseTo(probs.meanAbsError, 6);
    expect(cmp.error).toBeGreaterThan(0);
    const named = await loadMetricModule(module('named.mjs', 'export const metric = () => 0.5;'));
    expect(await named.evaluate({}, {}, { index: 0, count: 1 })).toBe(0.5);
  });

  it('says clearly when the module is missing, does not load, exports no function, throws or returns NaN', async () => {
    await expect(loadMetricModule(tmp.path('nope.mjs'))).rejects.toThrow(/cannot read metric module '.*nope\.mjs': no such file or directory/);
    await expect(loadMetricModule(tmp.dir)).rejects.toThrow(/not a file/);
    await expect(loadMetricModule(module('syntax.mjs', 'export default (=> 1;'))).rejects.toThrow(/cannot load metric module '.*syntax\.mjs': /);
    await expect(loadMetricModule(module('none.mjs', 'export const x = 1;'))).rejects.toThrow(/metric module '.*none\.mjs' exports no metric: expected a default export \(or one named 'metric'\) of \(reference, candidate, batch\) => number, got none/);
    const a = classifierModel();
    const run = createOrtRunner();
    const throws = await loadMetricModule(module('throws.mjs', "export default () => { throw new Error('no labels here'); };"));
    const err = await compareModels(a, a, run, () => [batchOf([8, 32], 3)], { layers: false, metric: throws }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuantError);
    expect((err as Error).message).toMatch(/^metric .*throws\.mjs threw on batch 1: no labels here$/);
    const nan = await loadMetricModule(module('nan.mjs', 'export default () => NaN;'));
    await expect(compareModels(a, a, run, () => [batchOf([8, 32], 3)], { layers: false, metric: nan })).rejects.toThrow(/^metric .*nan\.mjs returned NaN on batch 1: expected a number \(lower is better\)$/);
  });
});

describe('readLabels', () => {
  it('reads integer labels of any integer dtype and shape, in C order', () => {
    const p = writeNpy(tmp.path('l64.npy'), { dtype: 'int64', shape: [2, 2], data: new BigInt64Array([3n, 0n, 1n, 2n]) });
    expect(readLabels(p)).toEqual(new Int32Array([3, 0, 1, 2]));
    const q = writeNpy(tmp.path('l8.npy'), { dtype: 'uint8', shape: [3], data: new Uint8Array([9, 8, 7]) });
    expect(readLabels(q)).toEqual(new Int32Array([9, 8, 7]));
  });

  it('rejects a missing file, floats, negative labels and a malformed file, naming the file', () => {
    expect(() => readLabels(tmp.path('missing.npy'))).toThrow(/cannot read labels '.*missing\.npy': no such file or directory/);
    expect(() => readLabels(writeNpy(tmp.path('f.npy'), { dtype: 'float32', shape: [1], data: new Float32Array([1]) }))).toThrow(/labels '.*f\.npy' hold float32: expected integer class indices/);
    expect(() => readLabels(writeNpy(tmp.path('neg.npy'), { dtype: 'int32', shape: [2], data: new Int32Array([1, -1]) }))).toThrow(/entry 1 is -1: expected a class index >= 0/);
    const bad = tmp.path('bad.npy');
    writeFileSync(bad, 'not npy');
    expect(() => readLabels(bad)).toThrow(/labels '.*bad\.npy': /);
  });
});
