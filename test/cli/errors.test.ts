import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeFileSync } from 'node:fs';
import { encodeNpy } from '../../src/formats/npy.js';
import { assertBuilt, runCli, sampleData, tempDir, writeNpy } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs the CLI as a child process, several times per test.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const t = tempDir();
let good: string;
let params2d: string;

beforeAll(() => {
  assertBuilt();
  good = writeNpy(t.path('good.npy'), { dtype: 'float32', shape: [3, 4], data: sampleData(12) });
  params2d = t.path('p.json');
  expect(runCli(['quantize', good, '-o', t.path('seed.npy'), '--dtype', 'int8', '--axis', '0', '--params-out', params2d]).code).toBe(0);
});
afterAll(() => t.cleanup());

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every failure: exactly one line on stderr, the expected status, no stack, and no output (nor temp file) left. */
function expectFailure(args: string[], status: number, message: RegExp, outputs: string[] = [t.path('out.npy')]): void {
  const before = t.files();
  const r = runCli(args);
  expect(r.code, r.stderr).toBe(status);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^quantkit: /);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(t.files()).toEqual(before);
  for (const o of outputs) expect(t.files()).not.toContain(o.slice(t.dir.length + 1));
}

describe('quantkit bad input', () => {
  it('NaN: names the file and the first index in the array\'s shape, with its flat index (exit 1)', () => {
    const data = sampleData(40);
    data[17] = NaN;
    data[30] = NaN;
    const f = writeNpy(t.path('nan.npy'), { dtype: 'float32', shape: [40], data });
    const at = `quantkit: ${f}[17] is NaN (flat index 17)`;
    expectFailure(['quantize', f, '-o', t.path('out.npy'), '--dtype', 'uint8'], 1, new RegExp(`^${escape(at)}$`));
    expectFailure(['fake-quant', f, '-o', t.path('out.npy'), '--dtype', 'uint8'], 1, new RegExp(`^${escape(at)}$`));
    expectFailure(['inspect', f], 1, new RegExp(`^${escape(at)}$`), []);
    const d2 = sampleData(6 * 40);
    d2[3 * 40 + 17] = NaN;
    const f2 = writeNpy(t.path('nan2d.npy'), { dtype: 'float32', shape: [6, 40], data: d2 });
    expectFailure(['quantize', f2, '-o', t.path('out.npy'), '--dtype', 'uint8', '--axis', '0'], 1, new RegExp(`^quantkit: ${escape(f2)}\\[3, 17\\] is NaN \\(flat index 137\\)$`));
    expectFailure(['calibrate', f2, '--observer', 'entropy'], 1, new RegExp(`${escape(f2)}\\[3, 17\\] is NaN \\(flat index 137\\)$`), []);
  });

  it('NaN with given parameters is still found, chunk by chunk', () => {
    const data = sampleData(12);
    data[5] = NaN;
    const f = writeNpy(t.path('nan2.npy'), { dtype: 'float32', shape: [3, 4], data });
    expectFailure(['quantize', f, '-o', t.path('out.npy'), '--params', params2d], 1, /nan2\.npy\[1, 1\] is NaN \(flat index 5\)/);
  });

  it('Infinity without --allow-inf', () => {
    const data = sampleData(12);
    data[3] = -Infinity;
    const f = writeNpy(t.path('inf.npy'), { dtype: 'float32', shape: [12], data });
    expectFailure(['quantize', f, '-o', t.path('out.npy'), '--dtype', 'int8'], 1, /inf\.npy\[3\] is -Infinity \(flat index 3\): allow infinities to saturate them/);
  });

  it('a file that is not .npy', () => {
    const f = t.path('text.npy');
    writeFileSync(f, 'hello, this is not numpy\n');
    expectFailure(['quantize', f, '-o', t.path('out.npy'), '--dtype', 'int8'], 1, /not a \.npy file/);
    expectFailure(['inspect', f], 1, /not a \.npy file/, []);
  });

  it('a truncated .npy', () => {
    const f = t.path('trunc.npy');
    const bytes = encodeNpy({ dtype: 'float32', shape: [8], data: sampleData(8) });
    writeFileSync(f, bytes.subarray(0, bytes.length - 5));
    expectFailure(['quantize', f, '-o', t.path('out.npy'), '--dtype', 'int8'], 1, /truncated/);
  });

  it('a missing file', () => {
    expectFailure(['quantize', t.path('missing.npy'), '-o', t.path('out.npy'), '--dtype', 'int8'], 1, /cannot read '.*missing\.npy': no such file/);
    expectFailure(['dequantize', good, '--params', t.path('missing.json'), '-o', t.path('out.npy')], 1, /cannot read parameters '.*missing\.json': no such file/);
  });

  it('an output directory that does not exist', () => {
    expectFailure(['quantize', good, '-o', t.path('no/such/dir/out.npy'), '--dtype', 'int8'], 1, /cannot write '.*out\.npy': no such file/);
  });

  it('axis out of range', () => {
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--dtype', 'int8', '--axis', '2'], 1, /axis 2 is out of range for a tensor of rank 2/);
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--dtype', 'int8', '--axis', '-3', '--block-size', '2'], 1, /axis -3 is out of range/);
  });

  it('unknown dtype (usage, exit 2), listing the known ones', () => {
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--dtype', 'int33'], 2, /unknown dtype 'int33': expected one of int2, uint2, .*uint16/);
  });

  it('block size <= 0 or not an integer (usage)', () => {
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--dtype', 'int8', '--block-size', '0'], 2, /--block-size must be a positive integer, got 0/);
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--dtype', 'int8', '--block-size', '-4'], 2, /--block-size must be a positive integer, got -4/);
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--dtype', 'int8', '--block-size', '2.5'], 2, /--block-size expects an integer, got '2\.5'/);
  });

  it('other usage errors: missing -o, missing --dtype, unknown option, --pack of 8 bits, --params with --dtype', () => {
    expectFailure(['quantize', good, '--dtype', 'int8'], 2, /required option '-o, --output <path>' not specified/);
    expectFailure(['quantize', good, '-o', t.path('out.npy')], 2, /--dtype is required \(or --params\)/);
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--dtype', 'int8', '--frobnicate'], 2, /unknown option '--frobnicate'/);
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--dtype', 'int8', '--pack'], 2, /--pack applies to 2- and 4-bit dtypes .* got int8/);
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--params', params2d, '--dtype', 'int8'], 2, /--params carries .* drop --dtype/);
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--dtype', 'uint8', '--narrow'], 2, /--narrow applies to signed dtypes/);
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--dtype', 'uint8', '--seed', '3'], 2, /--seed applies to --rounding stochastic/);
    expectFailure(['fake-quant', good, '-o', t.path('out.npy'), '--dtype', 'int4', '--pack'], 2, /unknown option '--pack'/);
    expectFailure(['dequantize', good, '--params', params2d, '-o', t.path('out.npy'), '--workers', '0'], 2, /^quantkit: --workers must be in 1\.\.64, got 0$/);
    expectFailure(['calibrate', good, '--params-out', t.path('never.json'), '--axis', 'x'], 2, /^quantkit: --axis expects an integer, got 'x'$/, [t.path('never.json')]);
    expectFailure(['frobnicate'], 2, /unknown command 'frobnicate'/, []);
  });

  it('parameters whose shape does not fit the input', () => {
    const other = writeNpy(t.path('other.npy'), { dtype: 'float32', shape: [4, 3], data: sampleData(12, 5) });
    expectFailure(['quantize', other, '-o', t.path('out.npy'), '--params', params2d], 1, /parameters of shape \[3\] .* do not fit input of shape \[4, 3\]: expected \[4\]/);
    const codes = writeNpy(t.path('codes.npy'), { dtype: 'int8', shape: [4, 3], data: new Int8Array(12) });
    expectFailure(['dequantize', codes, '--params', params2d, '-o', t.path('out.npy')], 1, /do not fit input of shape \[4, 3\]/);
  });

  it('bad parameters JSON: not JSON, not an object, not a params file', () => {
    const notJson = t.path('bad.json');
    writeFileSync(notJson, '{"format": "quantkit.params", ');
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--params', notJson], 1, /parameters file '.*bad\.json' is not valid JSON/);
    const arr = t.path('arr.json');
    writeFileSync(arr, '[1, 2]');
    expectFailure(['dequantize', good, '--params', arr, '-o', t.path('out.npy')], 1, /expected a JSON object, got an array/);
    const wrong = t.path('wrong.json');
    writeFileSync(wrong, '{"format": "something-else"}');
    expectFailure(['quantize', good, '-o', t.path('out.npy'), '--params', wrong], 1, /parameters file '.*wrong\.json'/);
  });

  it('codes of the wrong dtype for the parameters', () => {
    expectFailure(['dequantize', good, '--params', params2d, '-o', t.path('out.npy')], 1, /int8 codes must be stored as int8, got float32/);
  });

  it('a directory given as input', () => {
    expectFailure(['inspect', t.dir], 1, /cannot read '.*': is a directory/, []);
  });

  it('the parameters file is not written when quantizing fails, nor the codes', () => {
    const data = sampleData(12);
    data[0] = NaN;
    const f = writeNpy(t.path('nan3.npy'), { dtype: 'float32', shape: [12], data });
    expectFailure(['quantize', f, '-o', t.path('out.npy'), '--dtype', 'int8', '--params-out', t.path('out.json')], 1, /nan3\.npy\[0\] is NaN \(flat index 0\)/, [t.path('out.npy'), t.path('out.json')]);
  });
});

