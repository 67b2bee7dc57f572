import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeQuantize } from '../../src/core/quantize.js';
import { toJson } from '../../src/cli/format-table.js';
import { join } from 'node:path';
import { assertBuilt, REPO, runCli, sampleData, tempDir, writeNpy } from './helpers.js';

const x = sampleData(200, 4);
const t = tempDir();
let input: string;

beforeAll(() => {
  assertBuilt();
  input = writeNpy(t.path('x.npy'), { dtype: 'float32', shape: [10, 20], data: x });
});
afterAll(() => t.cleanup());

function expectedError(dtype: 'int8' | 'uint8' | 'int4') {
  const fq = fakeQuantize(x, [x.length], { dtype }).values;
  let noise = 0;
  let signal = 0;
  for (let i = 0; i < x.length; i++) {
    noise += (x[i] - fq[i]) ** 2;
    signal += x[i] ** 2;
  }
  return { mse: noise / x.length, sqnr: 10 * Math.log10(signal / noise) };
}

describe('quantkit inspect', () => {
  it('--json reports shape, dtype, range, histogram and the error of int8, uint8 and int4', () => {
    const r = runCli(['inspect', input, '--json']);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout);
    // Every --json of the CLI prints the same way (the onnx commands' toJson: indented, Infinity as null).
    expect(r.stdout).toBe(`${toJson(j)}\n`);
    const min = x.reduce((a, b) => Math.min(a, b));
    const max = x.reduce((a, b) => Math.max(a, b));
    expect(j).toMatchObject({ shape: [10, 20], dtype: 'float32', size: 200, min, max });
    expect(j.histogram.counts.reduce((a: number, b: number) => a + b, 0)).toBe(200);
    expect(j.histogram.edges[0]).toBe(min);
    expect(j.histogram.edges.at(-1)).toBe(max);
    expect(j.errors.map((e: { dtype: string }) => e.dtype)).toEqual(['int8', 'uint8', 'int4']);
    for (const e of j.errors) {
      const want = expectedError(e.dtype);
      expect(e.mse).toBeCloseTo(want.mse, 12);
      expect(e.sqnr_db).toBeCloseTo(want.sqnr, 9);
    }
    // Fewer bits cost more.
    expect(j.errors[2].sqnr_db).toBeLessThan(j.errors[0].sqnr_db - 20);
  });

  it('prints a readable text report with a histogram', () => {
    const r = runCli(['inspect', input]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^shape\s+\[10, 20\]$/m);
    expect(r.stdout).toMatch(/^dtype\s+float32$/m);
    expect(r.stdout).toMatch(/^range\s+\[-?[\d.]+, [\d.]+\]$/m);
    expect(r.stdout).toMatch(/histogram \(16 bins\)/);
    expect(r.stdout.match(/#+\s+\d+$/gm)?.length).toBeGreaterThan(3);
    for (const d of ['int8', 'uint8', 'int4']) expect(r.stdout).toMatch(new RegExp(`^  ${d}\\s+\\S+\\s+-?\\d+\\s+\\S+\\s+\\d+\\.\\d\\d$`, 'm'));
  });

  it('a constant array: zero error and an infinite SQNR (null in JSON)', () => {
    const c = writeNpy(t.path('c.npy'), { dtype: 'float32', shape: [5], data: new Float32Array(5).fill(0.5) });
    const j = JSON.parse(runCli(['inspect', c, '--json']).stdout);
    expect(j.errors[0].mse).toBe(0);
    expect(j.errors[0].sqnr_db).toBeNull();
    expect(runCli(['inspect', c]).stdout).toContain('inf (exact)');
  });

  it('reads a bool byte 9 (or 255, or 2) as True, as numpy does', () => {
    const r = runCli(['inspect', join(REPO, 'test/fixtures/npy/unaligned/bool-bytes.npy'), '--json']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ shape: [6], dtype: 'bool', min: 0, max: 1 });
  });
});
