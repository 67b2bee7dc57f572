import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeFileSync } from 'node:fs';
import { dequantize, fakeQuantize, quantize } from '../../src/core/quantize.js';
import { assertBuilt, readJson, readNpy, runCli, sampleData, tempDir, writeNpy } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs the CLI as a child process, several times per test.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const shape = [6, 10];
const x = sampleData(60, 9);
const t = tempDir();
let input: string;

beforeAll(() => {
  assertBuilt();
  input = writeNpy(t.path('x.npy'), { dtype: 'float32', shape, data: x });
});
afterAll(() => t.cleanup());

describe('quantkit dequantize and fake-quant', () => {
  it('dequantize(quantize(x)) equals the library bit for bit, per-block int8', () => {
    const q = t.path('q.npy');
    const p = t.path('q.json');
    const dq = t.path('dq.npy');
    expect(runCli(['quantize', input, '-o', q, '--dtype', 'int8', '--block-size', '4', '--params-out', p]).code).toBe(0);
    const r = runCli(['dequantize', q, '--params', p, '-o', dq]);
    expect(r.stderr).toBe('');
    const { codes, params } = quantize(x, shape, { dtype: 'int8', granularity: { kind: 'per-block', axis: -1, blockSize: 4 } });
    const got = readNpy(dq);
    expect(got.dtype).toBe('float32');
    expect(got.shape).toEqual(shape);
    expect(got.data).toEqual(dequantize(codes, shape, params));
  });

  it('packed int4 codes round-trip through the shape recorded in the parameters', () => {
    const q = t.path('q4.npy');
    const p = t.path('q4.json');
    const dq = t.path('dq4.npy');
    expect(runCli(['quantize', input, '-o', q, '--dtype', 'int4', '--axis', '0', '--pack', '--params-out', p]).code).toBe(0);
    const r = runCli(['dequantize', q, '--params', p, '-o', dq]);
    expect(r.stderr).toBe('');
    const { codes, params } = quantize(x, shape, { dtype: 'int4', granularity: { kind: 'per-axis', axis: 0 } });
    expect(readNpy(dq).shape).toEqual(shape);
    expect(readNpy(dq).data).toEqual(dequantize(codes, shape, params));
  });

  it('packed codes whose length does not match the recorded shape are refused', () => {
    const q = t.path('q2.npy');
    const p = t.path('q2.json');
    expect(runCli(['quantize', input, '-o', q, '--dtype', 'uint2', '--pack', '--params-out', p]).code).toBe(0);
    const json = readJson(p);
    writeFileSync(p, JSON.stringify({ ...json, tensor_shape: [6, 12] }));
    const r = runCli(['dequantize', q, '--params', p, '-o', t.path('bad.npy')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^quantkit: packed uint2 codes of a \[6, 12\] tensor must be a flat uint8 array of 18 bytes, got uint8 of shape \[15\]/);
    writeFileSync(p, JSON.stringify({ ...json, tensor_shape: undefined }));
    expect(runCli(['dequantize', q, '--params', p, '-o', t.path('bad.npy')]).stderr).toMatch(/packed codes need "tensor_shape"/);
    expect(t.files()).not.toContain('bad.npy');
  });

  it('fake-quant equals the library\'s fakeQuantize, and writes its parameters', () => {
    const out = t.path('fq.npy');
    const p = t.path('fq.json');
    const r = runCli(['fake-quant', input, '-o', out, '--dtype', 'uint8', '--symmetric', '--axis', '1', '--params-out', p]);
    expect(r.stderr).toBe('');
    const want = fakeQuantize(x, shape, { dtype: 'uint8', symmetric: true, granularity: { kind: 'per-axis', axis: 1 } });
    expect(readNpy(out)).toMatchObject({ dtype: 'float32', shape });
    expect(readNpy(out).data).toEqual(want.values);
    expect(readJson(p).scale).toEqual(Array.from(want.params.scale));
    // Reusing the parameters gives the same values.
    const again = t.path('fq2.npy');
    expect(runCli(['fake-quant', input, '-o', again, '--params', p]).code).toBe(0);
    expect(readNpy(again).data).toEqual(want.values);
  });

  it('fake-quant with stochastic rounding is dequantize of the stochastic codes', () => {
    const out = t.path('fqs.npy');
    expect(runCli(['fake-quant', input, '-o', out, '--dtype', 'int8', '--rounding', 'stochastic', '--seed', '5']).code).toBe(0);
    const { codes, params } = quantize(x, shape, { dtype: 'int8', rounding: 'stochastic', seed: 5 });
    expect(readNpy(out).data).toEqual(dequantize(codes, shape, params));
  });
});
