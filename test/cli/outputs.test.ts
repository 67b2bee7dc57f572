import { execFileSync } from 'node:child_process';
import { copyFileSync, linkSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { mlpModel } from '../onnx/models.js';
import { assertBuilt, readNpy, runCli, sampleData, tempDir, writeNpy, expectRefusal } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs the CLI as a child process, several times per test.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

// Outputs are renamed into place: whatever the name points at is replaced. These tests make every
// special file in a temp dir (a FIFO, a symlink to /dev/null); the real /dev/null is never a target.
const t = tempDir();
let input: string;
let inputBytes: Buffer;
let params: string;
let codes: string;
let model: string;
let safetensors: string;

beforeAll(() => {
  assertBuilt();
  input = writeNpy(t.path('w.npy'), { dtype: 'float32', shape: [4, 6], data: sampleData(24) });
  inputBytes = readFileSync(input);
  params = t.path('w.json');
  codes = t.path('w.q.npy');
  expect(runCli(['quantize', input, '-o', codes, '--dtype', 'int8', '--params-out', params]).code).toBe(0);
  model = t.path('m.onnx');
  writeFileSync(model, encodeModel(mlpModel(16, 8, 4)));
  safetensors = t.path('floats.safetensors');
  copyFileSync('test/fixtures/safetensors/floats.safetensors', safetensors);
});
afterAll(() => t.cleanup());

const expectRefused = (args: string[], status: number, message: RegExp): void => expectRefusal(t, args, status, message);

function fifo(name: string): string {
  const p = t.path(name);
  execFileSync('mkfifo', [p]);
  return p;
}

function nullLink(name: string): string {
  const p = t.path(name);
  symlinkSync('/dev/null', p);
  return p;
}

function expectStillFifo(p: string): void {
  expect(lstatSync(p).isFIFO()).toBe(true);
}

function expectStillNullLink(p: string): void {
  expect(lstatSync(p).isSymbolicLink()).toBe(true);
  expect(readlinkSync(p)).toBe('/dev/null');
  expect(statSync(p).isCharacterDevice()).toBe(true);
}

describe('outputs that exist and are not regular files are refused, nothing replaced', () => {
  it('quantize -o a FIFO', () => {
    const p = fifo('fifo.q.npy');
    expectRefused(['quantize', input, '-o', p, '--dtype', 'int8'], 1, /refusing to write '.*fifo\.q\.npy': it is a named pipe \(FIFO\), not a regular file/);
    expectStillFifo(p);
  });

  it('quantize -o a symlink to /dev/null, and --params-out one', () => {
    const p = nullLink('null.q.npy');
    expectRefused(['quantize', input, '-o', p, '--dtype', 'int8'], 1, /it is a character device, not a regular file/);
    expectStillNullLink(p);
    const j = nullLink('null.json');
    expectRefused(['quantize', input, '-o', t.path('fresh.npy'), '--dtype', 'int8', '--params-out', j], 1, /'.*null\.json': it is a character device/);
    expectStillNullLink(j);
  });

  it('a directory', () => {
    const d = t.path('dir.npy');
    mkdirSync(d);
    expectRefused(['quantize', input, '-o', d, '--dtype', 'int8'], 1, /it is a directory, not a regular file/);
    expect(statSync(d).isDirectory()).toBe(true);
  });

  it('dequantize, fake-quant, calibrate --params-out, onnx quantize and a safetensors output', () => {
    const q = fifo('deq.npy');
    expectRefused(['dequantize', codes, '--params', params, '-o', q], 1, /named pipe/);
    expectStillFifo(q);
    const f = nullLink('fq.npy');
    expectRefused(['fake-quant', input, '-o', f, '--dtype', 'uint8'], 1, /character device/);
    expectStillNullLink(f);
    const c = fifo('cal.json');
    expectRefused(['calibrate', input, '--params-out', c], 1, /named pipe/);
    expectStillFifo(c);
    const o = nullLink('null.onnx');
    expectRefused(['onnx', 'quantize', model, '-o', o], 1, /character device/);
    expectStillNullLink(o);
    const s = fifo('s.q.safetensors');
    expectRefused(['quantize', safetensors, '-o', s, '--dtype', 'int8'], 1, /named pipe/);
    expectStillFifo(s);
  });
});

describe('-o naming the input is refused unless --force', () => {
  it('the same path, a symlink to it and a hard link to it', () => {
    expectRefused(['quantize', input, '-o', input, '--dtype', 'int8'], 2, /-o '.*w\.npy' is the input itself: writing it would replace the input \(use --force/);
    const sym = t.path('sym.npy');
    symlinkSync(input, sym);
    expectRefused(['fake-quant', input, '-o', sym, '--dtype', 'int8'], 2, /is the input '.*w\.npy'/);
    const hard = t.path('hard.npy');
    linkSync(input, hard);
    expectRefused(['quantize', hard, '-o', input, '--dtype', 'int8'], 2, /is the input '.*hard\.npy'/);
    expect(readFileSync(input).equals(inputBytes)).toBe(true);
  });

  it('dequantize onto its codes or its --params, calibrate onto a data file, onnx quantize onto the model', () => {
    const codesBefore = readFileSync(codes);
    expectRefused(['dequantize', codes, '--params', params, '-o', codes], 2, /is the input itself/);
    expect(readFileSync(codes).equals(codesBefore)).toBe(true);
    const modelBefore = readFileSync(model);
    expectRefused(['onnx', 'quantize', model, '-o', model], 2, /is the input itself/);
    expect(readFileSync(model).equals(modelBefore)).toBe(true);
    // calibrate's only output is JSON; a data file is .npy, so the name check refuses it first.
    expectRefused(['calibrate', input, '--params-out', input], 2, /must end in \.json/);
    const paramsBefore = readFileSync(params);
    expectRefused(['quantize', input, '-o', t.path('x.npy'), '--params', params, '--params-out', params], 2, /--params-out '.*w\.json' is the input itself/);
    expect(readFileSync(params).equals(paramsBefore)).toBe(true);
  });

  it('--force replaces the input (atomically) as asked', () => {
    const victim = writeNpy(t.path('victim.npy'), { dtype: 'float32', shape: [4, 6], data: sampleData(24) });
    const r = runCli(['quantize', victim, '-o', victim, '--dtype', 'int8', '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(readNpy(victim).dtype).toBe('int8');
  });
});

describe('the output name must carry the extension of the format written', () => {
  it('a safetensors output named .npy, a .npy output named .safetensors, params named .npy, a model named .npy', () => {
    expectRefused(['quantize', safetensors, '-o', t.path('m.npy'), '--dtype', 'int8'], 2, /-o '.*m\.npy': the file written is safetensors, so its name must end in \.safetensors \(got \.npy\)/);
    expectRefused(['fake-quant', input, '-o', t.path('w.fq.safetensors'), '--dtype', 'int8'], 2, /the file written is npy, so its name must end in \.npy/);
    expectRefused(['quantize', input, '-o', t.path('y.npy'), '--dtype', 'int8', '--params-out', t.path('y.params.npy')], 2, /--params-out .* must end in \.json/);
    expectRefused(['dequantize', codes, '--params', params, '-o', t.path('noext')], 2, /must end in \.npy \(got no extension\)/);
    expectRefused(['onnx', 'quantize', model, '-o', t.path('m.q.npy')], 2, /the file written is onnx, so its name must end in \.onnx/);
    expectRefused(['calibrate', input, '--params-out', t.path('p.txt')], 2, /must end in \.json or \.safetensors \(got \.txt\)/);
  });

  it('the extension is case-insensitive', () => {
    const r = runCli(['quantize', input, '-o', t.path('upper.NPY'), '--dtype', 'int8']);
    expect(r.code, r.stderr).toBe(0);
  });
});
