import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeValueInfo } from '../../src/formats/onnx/builders.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { loadModel } from '../../src/node/onnx/onnx-file.js';
import { convModel, mlpModel, randomWeights } from './models.js';
import { cli } from './onnx-cli.js';

vi.setConfig({ testTimeout: 60_000 });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A .npy (1.0) of little-endian float32. */
function npy(shape: number[], data: Float32Array): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'qk-lowbit-cli-'));
  dirs.push(dir);
  const m = mlpModel(64, 48, 16, 17);
  m.graph!.input[0] = makeValueInfo('x', 'float32', ['n', 64]);
  m.graph!.output[0] = makeValueInfo('y', 'float32', ['n', 16]);
  const input = join(dir, 'm.onnx');
  writeFileSync(input, encodeModel(m));
  const cal = join(dir, 'cal');
  mkdirSync(cal);
  writeFileSync(join(cal, 'x.npy'), npy([32, 64], randomWeights(32 * 64, 3)));
  return { dir, input, cal, out: join(dir, 'q.onnx') };
}

describe('quantkit onnx quantize --method', () => {
  it('gptq with --calibration and --raise-opset quantizes MatMul and Gemm from the calibration inputs and says how', async () => {
    const { input, cal, out } = setup();
    const r = await cli(['onnx', 'quantize', input, '-o', out, '--dtype', 'int3', '--method', 'gptq', '--calibration', cal, '--raise-opset', '--damp', '0.05', '--act-order']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/weight-only int3, 2 nodes quantized, 0 left in float/);
    expect(r.stdout).toMatch(/codes chosen by gptq \(2 nodes\)/);
    expect(r.stdout).toMatch(/calibration: 2 batches, inputs of 2 layers captured in 1 passes \(sequential/);
    expect(r.stderr).toMatch(/OPSET RAISED: ai.onnx opset 17 -> 21/);
    expect(loadModel(out).graph!.node.map((n) => n.opType)).toEqual(['DequantizeLinear', 'MatMulNBits', 'Add', 'Relu', 'Gemm']);
  });

  it('gptq --float-targets runs the float model beside each pass and fits the layers after the first to it', async () => {
    const { dir, input, cal } = setup();
    const run = async (extra: string[], name: string) => {
      const out = join(dir, name);
      const r = await cli(['onnx', 'quantize', input, '-o', out, '--dtype', 'int3', '--method', 'gptq', '--calibration', cal, '--raise-opset', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      const codes = (name: string) => Buffer.from(loadModel(out).graph!.initializer.find((t) => t.name === name)!.rawData).toString('hex');
      // The MatMul's codes (MatMulNBits) and the Gemm's (DequantizeLinear).
      return { r, weights: [codes('W1_Q4'), codes('W2_quantized')] };
    };
    const plain = await run([], 'plain.onnx');
    expect(plain.r.stdout).toMatch(/in 1 passes \(sequential: each pass on the model with the earlier layers quantized\)/);
    const fitted = await run(['--float-targets'], 'fitted.onnx');
    // A pass per layer: the Gemm is calibrated after the MatMul is quantized, its input drifted from the float model's.
    expect(fitted.r.stdout).toMatch(/calibration: 2 batches, inputs of 2 layers captured in 2 passes \(sequential: each pass on the model with the earlier layers quantized, the float model beside it\)/);
    const quarter = await run(['--float-targets', '0.25'], 'quarter.onnx');
    expect(plain.weights).toHaveLength(2);
    // The MatMul reads the model's input, which never drifts: plain GPTQ's codes. The Gemm's move, and with the share.
    for (const w of [fitted.weights, quarter.weights]) expect(w[0]).toBe(plain.weights[0]);
    expect(fitted.weights[1]).not.toBe(plain.weights[1]);
    expect(quarter.weights[1]).not.toBe(plain.weights[1]);
    expect(quarter.weights[1]).not.toBe(fitted.weights[1]);
  });

  it('awq with --calibration folds the Gemm input scales into the MatMul and Add before it and says where each went', async () => {
    const { input, cal, out } = setup();
    const r = await cli(['onnx', 'quantize', input, '-o', out, '--dtype', 'int4', '--method', 'awq', '--calibration', cal, '--raise-opset']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/awq input scales: 1 folded into the ops producing the input, 1 applied by a Mul, 0 all 1/);
    expect(loadModel(out).graph!.node.map((n) => n.opType)).toEqual(['DequantizeLinear', 'Mul', 'MatMulNBits', 'Add', 'Relu', 'Gemm']);
  });

  it('--workers 2 quantizes the layers of a pass in worker threads and writes the same bytes as --workers 1', async () => {
    const { dir, input, cal } = setup();
    const files: Buffer[] = [];
    for (const workers of ['1', '2']) {
      const out = join(dir, `q${workers}.onnx`);
      const r = await cli(['onnx', 'quantize', input, '-o', out, '--dtype', 'int4', '--method', 'gptq', '--calibration', cal, '--raise-opset', '--workers', workers]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/codes chosen by gptq \(2 nodes\)/);
      files.push(readFileSync(out));
    }
    expect(files[1]!.equals(files[0]!)).toBe(true);
  });

  it('hqq needs no data; gptq without --calibration warns that search is used instead', async () => {
    const { input, out } = setup();
    const hqq = await cli(['onnx', 'quantize', input, '-o', out, '--dtype', 'int4', '--method', 'hqq', '--json']);
    expect(hqq.code, hqq.stderr).toBe(0);
    expect(JSON.parse(hqq.stdout).report.nodes[0]).toMatchObject({ status: 'quantized', method: 'hqq' });
    const gptq = await cli(['onnx', 'quantize', input, '-o', out, '--dtype', 'int4', '--method', 'gptq', '--force']);
    expect(gptq.code, gptq.stderr).toBe(0);
    expect(gptq.stderr).toMatch(/--method gptq without --calibration DIR: .* calibration-free search/);
    expect(gptq.stdout).toMatch(/note: gptq fell back to search/);
  });

  it('refuses method flags that do not apply, in one line with exit 2 (a combination the library refuses: exit 1), writing nothing', async () => {
    const { dir, input, cal, out } = setup();
    const usage = async (args: string[], message: RegExp) => {
      const r = await cli(['onnx', 'quantize', input, '-o', out, ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    };
    await usage(['--method', 'gptq'], /--method gptq chooses codes per block of 4 bits or fewer: add --dtype int4/);
    await usage(['--method', 'magic'], /argument 'magic' is invalid/);
    await usage(['--dtype', 'int4', '--method', 'hqq', '--calibration', cal], /--calibration applies to --mode static and to --method gptq, awq, search/);
    await usage(['--dtype', 'int4', '--damp', '0.1'], /--damp applies to --method gptq, got --method rtn/);
    await usage(['--dtype', 'int4', '--method', 'hqq', '--workers', '2'], /--workers applies to --method gptq, awq, search .*, got --method hqq/);
    await usage(['--dtype', 'int4', '--method', 'gptq', '--calibration', cal, '--workers', '0'], /--workers must be in 1\.\.64, got 0/);
    await usage(['--dtype', 'int4', '--method', 'gptq', '--damp', 'lots'], /--damp expects a number in \[0, 1\], got 'lots'/);
    await usage(['--dtype', 'int4', '--method', 'awq', '--calibration', cal, '--float-targets'], /--float-targets applies to --method gptq, got --method awq/);
    for (const bad of ['0', '1.5', 'all']) await usage(['--dtype', 'int4', '--method', 'gptq', '--float-targets', bad], /--float-targets expects a number in \(0, 1\]/);
    await usage(['--mode', 'dynamic', '--method', 'gptq'], /--method applies to --mode weight-only/);
    await usage(['--raise-opset'], /--raise-opset applies to dtypes of 4 bits or fewer/);
    await usage(['--auto', '--max-error', '0.1', '--method', 'gptq'], /--auto picks .* drop --method/);
    // An option combination the library refuses (not a flag misuse): one line, the config exit status.
    const hqq2 = await cli(['onnx', 'quantize', input, '-o', out, '--dtype', 'int2', '--method', 'hqq']);
    expect(hqq2.code).toBe(1);
    expect(hqq2.stderr).toMatch(/method hqq at dtype int2 is refused: .* use gptq or search for int2/);
    expect(hqq2.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(dir).sort()).toEqual(['cal', 'm.onnx']);
  });

  it('--help says when to pick which method', async () => {
    const r = await cli(['onnx', 'quantize', '--help']).catch((e: unknown) => ({ code: -1, stdout: String(e), stderr: '' }));
    const text = r.stdout + r.stderr;
    for (const m of ['rtn', 'hqq', 'search', 'awq', 'gptq']) expect(text).toMatch(new RegExp(`\\n  ${m} +\\S`));
    expect(text).toMatch(/--raise-opset/);
  });

  it('int4 with --raise-opset quantizes a Conv of an opset-17 model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qk-lowbit-cli-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'c.onnx'), encodeModel(convModel(17)));
    const r = await cli(['onnx', 'quantize', join(dir, 'c.onnx'), '-o', join(dir, 'q.onnx'), '--dtype', 'int4', '--block-size', '16', '--raise-opset', '--method', 'search']);
    expect(r.code, r.stderr).toBe(0);
    // Its 3-input 3×3 weight: per output channel (27 weights per scale), not blocks of its 3 input channels.
    expect(r.stdout).toMatch(/1 x DequantizeLinear int4 per-channel/);
  });
});
