import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeParamsSafetensors, encodeParamsSafetensors } from '../../src/formats/params-safetensors.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/formats/safetensors.js';
import { assertBuilt, besidesSummary, readJson, readNpy, runCli, sampleData, tempDir, writeNpy } from './helpers.js';

/*
 * --params-out chooses JSON or the binary params file by its name, and every command that takes
 * --params reads both: the same codes and floats from either.
 */

// Beyond vitest's 5 s default on a 2-core machine: each test runs the CLI as a child process four to seven times.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const t = tempDir();
// 64 x 1024 per-block int4 (block 32): 2048 parameters, under the JSON note's threshold; the wide tensor is 8192.
const shape = [64, 1024];
const wide = [64, 4096];
let input: string;
let wideInput: string;

beforeAll(() => {
  assertBuilt();
  input = writeNpy(t.path('w.npy'), { dtype: 'float32', shape, data: sampleData(shape[0]! * shape[1]!, 3) });
  wideInput = writeNpy(t.path('wide.npy'), { dtype: 'float32', shape: wide, data: sampleData(wide[0]! * wide[1]!, 5) });
});
afterAll(() => t.cleanup());

function ok(args: string[]): string {
  const r = runCli(args);
  expect(r.code, r.stderr).toBe(0);
  return r.stderr;
}

const bytesOf = (path: string) => readFileSync(path);

describe('--params-out x.safetensors and --params x.safetensors', () => {
  it('quantize writes the binary file, and dequantize and quantize read it as they read the JSON (packed int4, per block)', () => {
    const flags = ['--dtype', 'int4', '--block-size', '32', '--pack'];
    ok(['quantize', input, '-o', t.path('a.q.npy'), ...flags, '--params-out', t.path('a.json')]);
    ok(['quantize', input, '-o', t.path('b.q.npy'), ...flags, '--params-out', t.path('b.safetensors')]);
    expect(bytesOf(t.path('b.q.npy')).equals(bytesOf(t.path('a.q.npy')))).toBe(true);

    const binary = bytesOf(t.path('b.safetensors'));
    const file = decodeSafetensors(binary);
    expect(file.header.metadata).toMatchObject({ format: 'quantkit.params', dtype: 'int4', granularity: 'per_block', block_size: '32', packed: 'true', tensor_shape: '[64,1024]' });
    expect(file.header.tensors.map((t) => `${t.name} ${t.dtype} [${t.shape.join(',')}]`)).toEqual(['scale F32 [64,32]', 'zero_point I8 [64,32]']);
    const json = readJson(t.path('a.json'));
    const fromBinary = decodeParamsSafetensors(binary);
    expect(Array.from(fromBinary.params.scale)).toEqual(json.scale);
    expect(Array.from(fromBinary.params.zeroPoint)).toEqual(json.zero_point);
    expect(binary.length * 4).toBeLessThan(bytesOf(t.path('a.json')).length);

    ok(['dequantize', t.path('a.q.npy'), '--params', t.path('a.json'), '-o', t.path('a.dq.npy')]);
    ok(['dequantize', t.path('a.q.npy'), '--params', t.path('b.safetensors'), '-o', t.path('b.dq.npy')]);
    expect(bytesOf(t.path('b.dq.npy')).equals(bytesOf(t.path('a.dq.npy')))).toBe(true);
    expect(readNpy(t.path('b.dq.npy')).shape).toEqual(shape);

    // Quantizing again with the stored parameters gives the same codes, and converts JSON to binary.
    ok(['quantize', input, '-o', t.path('c.q.npy'), '--pack', '--params', t.path('b.safetensors')]);
    expect(bytesOf(t.path('c.q.npy')).equals(bytesOf(t.path('a.q.npy')))).toBe(true);
    ok(['quantize', input, '-o', t.path('d.q.npy'), '--params', t.path('a.json'), '--params-out', t.path('d.safetensors')]);
    expect(decodeParamsSafetensors(bytesOf(t.path('d.safetensors'))).params).toEqual(fromBinary.params);
  });

  it('calibrate and fake-quant write it, and fake-quant and quantize read it', () => {
    ok(['calibrate', input, '--dtype', 'uint16', '--axis', '0', '--params-out', t.path('cal.safetensors')]);
    ok(['calibrate', input, '--dtype', 'uint16', '--axis', '0', '--params-out', t.path('cal.json')]);
    expect(decodeSafetensors(bytesOf(t.path('cal.safetensors'))).header.tensors.find((x) => x.name === 'zero_point')?.dtype).toBe('U16');
    for (const p of ['cal.json', 'cal.safetensors']) ok(['quantize', input, '-o', t.path(`q.${p}.npy`), '--params', t.path(p)]);
    expect(bytesOf(t.path('q.cal.safetensors.npy')).equals(bytesOf(t.path('q.cal.json.npy')))).toBe(true);

    ok(['fake-quant', input, '-o', t.path('fq.npy'), '--dtype', 'int8', '--axis', '1', '--params-out', t.path('fq.safetensors')]);
    ok(['fake-quant', input, '-o', t.path('fq2.npy'), '--params', t.path('fq.safetensors')]);
    expect(bytesOf(t.path('fq2.npy')).equals(bytesOf(t.path('fq.npy')))).toBe(true);
  });
});

describe('a large JSON params file', () => {
  it('is written as asked, with one stderr line suggesting the binary file', () => {
    const stderr = ok(['quantize', wideInput, '-o', t.path('wide.q.npy'), '--dtype', 'int4', '--block-size', '32', '--params-out', t.path('wide.json')]);
    expect(besidesSummary(stderr).trimEnd().split('\n').filter((l) => l.startsWith('quantkit:'))).toEqual([
      expect.stringMatching(/^quantkit: note: --params-out '.*wide\.json' holds 8192 parameters as JSON \(\d+\.\d kB\); --params-out '.*wide\.safetensors' writes them as a binary file \(41\.0 kB\) that --params reads too$/),
    ]);
    expect(readJson(t.path('wide.json')).scale).toHaveLength(8192);
  });

  it('no note for the binary file, nor for a JSON file of 4096 parameters or fewer', () => {
    expect(ok(['quantize', wideInput, '-o', t.path('wide2.q.npy'), '--dtype', 'int4', '--block-size', '32', '--params-out', t.path('wide.safetensors')])).not.toMatch(/note/);
    expect(ok(['calibrate', wideInput, '--dtype', 'int4', '--block-size', '64', '--params-out', t.path('half.json')])).not.toMatch(/note/);
    expect(readJson(t.path('half.json')).scale).toHaveLength(4096);
    expect(ok(['calibrate', wideInput, '--dtype', 'int4', '--block-size', '32', '--params-out', t.path('cal-wide.json')])).toMatch(/note: --params-out .* holds 8192 parameters as JSON/);
  });
});

describe('a bad binary params file', () => {
  function expectOneLine(args: string[], message: RegExp): void {
    const before = t.files();
    const r = runCli(args);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(t.files()).toEqual(before);
  }

  it('is one line naming the file and the problem, and nothing is written', () => {
    const good = decodeParamsSafetensors(bytesOf(t.path('cal.safetensors')));
    const file = decodeSafetensors(encodeParamsSafetensors(good.params));
    const tensors = file.header.tensors.map((x) => ({ name: x.name, dtype: x.dtype, shape: [...x.shape], data: file.tensorBytes(x.name) }));
    const bad = t.path('bad.safetensors');
    writeFileSync(bad, encodeSafetensors(tensors, { ...file.header.metadata, dtype: 'uint8' }));
    expectOneLine(['quantize', input, '-o', t.path('out.npy'), '--params', bad], /^quantkit: parameters file '.*bad\.safetensors': params\.bits: dtype uint8 has 8 bits, got 16/);
    writeFileSync(bad, encodeSafetensors([tensors[0]!], file.header.metadata));
    expectOneLine(['dequantize', t.path('a.q.npy'), '--params', bad, '-o', t.path('out.npy')], /^quantkit: parameters file '.*bad\.safetensors': no tensor 'zero_point'/);
    writeFileSync(bad, '{"format": "quantkit.params"}');
    expectOneLine(['fake-quant', input, '-o', t.path('out.npy'), '--params', bad], /^quantkit: parameters file '.*bad\.safetensors': /);
  });

  it('--params-out of another extension is refused before any work, naming both forms', () => {
    const r = runCli(['quantize', input, '-o', t.path('o.npy'), '--dtype', 'int8', '--params-out', t.path('p.bin')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^quantkit: --params-out '.*p\.bin': the name chooses the parameters' form, so it must end in \.json or \.safetensors \(got \.bin\)/);
  });
});
