import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CliIo } from '../../src/cli/cli-io.js';
import { createOnnxCommand } from '../../src/cli/commands/onnx.js';
import { buildProgram } from '../../src/cli/run-cli.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { loadModel } from '../../src/node/onnx/onnx-file.js';
import { mlpModel } from './models.js';
import { cli } from './onnx-cli.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs the CLI and onnxruntime in child processes.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});


function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'qk-onnx-cli-'));
  dirs.push(dir);
  const input = join(dir, 'm.onnx');
  writeFileSync(input, encodeModel(mlpModel()));
  return { dir, input, out: join(dir, 'q.onnx') };
}

describe('quantkit onnx quantize', () => {
  it('writes a weight-only int8 model and prints a summary', async () => {
    const { input, out } = setup();
    const r = await cli(['onnx', 'quantize', input, '-o', out, '--per-channel', '--exclude', 'gemm']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/weight-only int8, 1 node quantized, 1 left in float \(listed below\)/);
    expect(r.stdout).toMatch(/1 x Cast\+Mul int8 per-channel/);
    expect(r.stdout).toMatch(/gemm \[Gemm\]: excluded by name/);
    const q = loadModel(out);
    expect(q.graph!.node.map((n) => n.opType)).toEqual(['Cast', 'Mul', 'MatMul', 'Add', 'Relu', 'Gemm']);
  });

  it('passes 4-bit options through and prints the report as JSON', async () => {
    const { input, out } = setup();
    const r = await cli(['onnx', 'quantize', input, '-o', out, '--dtype', 'uint4', '--block-size', '16', '--asymmetric', '--op-types', 'MatMul', '--json', '--external-data']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { files: string[]; report: { nodes: { form: string; blockSize: number; dtype: string }[] } };
    expect(j.report.nodes).toEqual([
      expect.objectContaining({ form: 'com.microsoft.MatMulNBits', blockSize: 16, dtype: 'uint4' }),
      expect.objectContaining({ node: 'gemm', status: 'float', reason: expect.stringMatching(/^op type Gemm was not chosen/) }),
    ]);
    expect(j.files).toEqual([out, `${out}.data`]);
    expect(existsSync(`${out}.data`)).toBe(true);
  });

  it('gives one line and exit 2 for a bad command line, exit 1 for a bad file or bad option values, and writes nothing', async () => {
    const { dir, input, out } = setup();
    const bad = await cli(['onnx', 'quantize', input, '-o', out, '--dtype', 'int5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/option '--dtype <dtype>' argument 'int5' is invalid/);
    expect((await cli(['onnx', 'quantize', input, '-o', out, '--block-size', '32'])).stderr).toMatch(/--block-size applies to 4-bit dtypes/);
    expect((await cli(['onnx', 'quantize', input, '-o', out, '--calibration', dir])).stderr).toMatch(/--calibration applies to --mode static/);
    expect((await cli(['onnx', 'quantize', input, '-o', out, '--symmetric', '--asymmetric'])).code).toBe(2);
    writeFileSync(join(dir, 'junk.onnx'), 'junk');
    const junk = await cli(['onnx', 'quantize', join(dir, 'junk.onnx'), '-o', out]);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toMatch(/^quantkit: '.*junk.onnx': not an ONNX model/);
    expect(junk.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(dir).sort()).toEqual(['junk.onnx', 'm.onnx']);
  });

  it('refuses option values no model could take as usage errors (exit 2), before reading the model', async () => {
    const { dir, out } = setup();
    const missing = join(dir, 'missing.onnx');
    const usage = async (args: string[], message: RegExp) => {
      const r = await cli(['onnx', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    };
    await usage(['quantize', missing, '-o', out, '--dtype', 'int4', '--block-size', '24'], /^quantkit: --block-size expects a power of two >= 16 \(16, 32, 64, \.\.\.\), got 24$/);
    await usage(['quantize', missing, '-o', out, '--mode', 'dynamic', '--dtype', 'int4'], /^quantkit: --mode dynamic quantizes to int8 or uint8, got --dtype int4/);
    await usage(['quantize', missing, '-o', out, '--mode', 'static', '--dtype', 'uint4'], /^quantkit: --mode static quantizes to int8 or uint8, got --dtype uint4/);
    await usage(['sensitivity', missing, '--block-size', '8'], /^quantkit: --block-size expects a power of two >= 16/);
    await usage(['quantize', missing, '-o', out, '--auto', '--max-error', '0.1', '--block-size', '20'], /^quantkit: --block-size expects a power of two >= 16/);
    expect(readdirSync(dir).sort()).toEqual(['m.onnx']);
  });

  it('--auto refuses the options of a fixed precision instead of ignoring them (exit 2)', async () => {
    const { dir, input, out } = setup();
    const r = await cli(['onnx', 'quantize', input, '-o', out, '--auto', '--max-error', '0.1', '--quantize-bias', '--dtype', 'uint8', '--format', 'qoperator']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toBe('quantkit: --auto picks int4, int8 or float per layer (weight-only): drop --dtype, --format, --quantize-bias');
    expect(readdirSync(dir).sort()).toEqual(['m.onnx']);
  });

  it('registers subcommands from the list it is given and refuses duplicates', async () => {
    const extra = { name: 'hello', register: (g: import('commander').Command) => void g.command('hello').action(() => {}) };
    const io = { stdout: { write: () => true }, stderr: { write: () => true }, env: {} } as unknown as CliIo;
    await buildProgram(io, [createOnnxCommand([extra])]).parseAsync(['onnx', 'hello'], { from: 'user' });
    expect(() => buildProgram(io, [createOnnxCommand([extra, extra])])).toThrow(/two 'onnx' subcommands are named 'hello'/);
  });
});
