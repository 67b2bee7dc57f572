import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelProto } from '../../src/formats/onnx/model.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { checkModelWithOrt, assertOutputModelLoads } from '../../src/node/onnx/ort-model-check.js';
import { mlpModel } from './models.js';
import { cli } from './onnx-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'qk-onnx-corrupt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The small MLP (x -> MatMul W1 -> Add b1 -> Relu -> Gemm W2, c2 -> y) with one defect. */
function broken(edit: (m: ModelProto) => void): Uint8Array {
  const m = mlpModel(16, 8, 4);
  edit(m);
  return encodeModel(m);
}

function init(m: ModelProto, name: string) {
  return m.graph!.initializer.find((t) => t.name === name)!;
}

function node(m: ModelProto, name: string) {
  return m.graph!.node.find((n) => n.name === name)!;
}

const GOOD = encodeModel(mlpModel(16, 8, 4));

/** Models onnxruntime refuses to load; quantkit's loader takes some of them (their protobuf is fine). */
const CORRUPTED: { name: string; bytes: () => Uint8Array }[] = [
  { name: 'truncated file', bytes: () => GOOD.subarray(0, Math.floor(GOOD.length * 0.6)) },
  // dims [16, 8] -> [16, 9]: the raw data no longer holds dims' product of floats.
  { name: "an initializer's dims flipped", bytes: () => broken((m) => void (init(m, 'W1').dims[1] = 9n)) },
  { name: "an initializer's raw_data 4 bytes short", bytes: () => broken((m) => void (init(m, 'W1').rawData = init(m, 'W1').rawData.subarray(4))) },
  { name: "an initializer's data type changed (float -> int64)", bytes: () => broken((m) => void (init(m, 'W1').dataType = 7)) },
  { name: 'a node reading a tensor nothing defines', bytes: () => broken((m) => void (node(m, 'add').input[0] = 'nowhere')) },
  { name: 'an opset this onnxruntime does not know', bytes: () => broken((m) => void (m.opsetImport[0].version = 999n)) },
  {
    name: 'an op of an unknown domain',
    bytes: () =>
      broken((m) => {
        node(m, 'relu').opType = 'Frobnicate';
        node(m, 'relu').domain = 'com.example.bogus';
        m.opsetImport.push({ ...m.opsetImport[0], domain: 'com.example.bogus', version: 1n });
      }),
  },
  // add reads relu's output, relu reads add's: a cycle.
  { name: 'a graph cycle', bytes: () => broken((m) => void (node(m, 'add').input[0] = 'h2')) },
  { name: 'two nodes writing one tensor', bytes: () => broken((m) => void (node(m, 'relu').output[0] = 'h1')) },
  { name: 'a wrong arity (MatMul with one input)', bytes: () => broken((m) => void node(m, 'mm').input.pop()) },
];

async function ortRejects(bytes: Uint8Array): Promise<boolean> {
  try {
    const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
    await s.release();
    return false;
  } catch {
    return true;
  }
}

describe('onnx quantize refuses models onnxruntime rejects: one line, non-zero exit, no output', () => {
  for (const c of CORRUPTED) {
    it.each(['weight-only', 'dynamic'])(`${c.name} (--mode %s)`, async (mode) => {
      const bytes = c.bytes();
      // The premise: onnxruntime will not load it.
      expect(await ortRejects(bytes)).toBe(true);
      const sub = mkdtempSync(join(dir, 'case-'));
      const input = join(sub, 'm.onnx');
      writeFileSync(input, bytes);
      const r = await cli(['onnx', 'quantize', input, '-o', join(sub, 'q.onnx'), '--mode', mode]);
      expect(r.code, r.stdout).not.toBe(0);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^quantkit: /);
      expect(lines[0]).not.toMatch(/internal error/);
      expect(readdirSync(sub)).toEqual(['m.onnx']);
    });
  }

  it('the good model still quantizes, and its output loads', async () => {
    const sub = mkdtempSync(join(dir, 'good-'));
    const input = join(sub, 'm.onnx');
    writeFileSync(input, GOOD);
    const r = await cli(['onnx', 'quantize', input, '-o', join(sub, 'q.onnx'), '--per-channel']);
    expect(r.code, r.stderr).toBe(0);
    expect((await checkModelWithOrt({ path: join(sub, 'q.onnx') })).ok).toBe(true);
  });
});

describe('checkModelWithOrt', () => {
  it('says why onnxruntime rejects a model, on one line', async () => {
    const v = await checkModelWithOrt({ bytes: CORRUPTED[4].bytes() });
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.reason).not.toMatch(/\n/);
      expect(v.reason).toMatch(/nowhere/);
    }
    expect(await checkModelWithOrt({ bytes: GOOD })).toEqual({ ok: true });
  });

  it('assertOutputModelLoads refuses a model onnxruntime rejects, naming the output', async () => {
    const m = mlpModel(16, 8, 4);
    node(m, 'add').input[0] = 'nowhere';
    await expect(assertOutputModelLoads(m, 'out.onnx')).rejects.toThrow(/the quantized model is not one onnxruntime can load, so 'out\.onnx' was not written: .*nowhere/);
    await expect(assertOutputModelLoads(mlpModel(16, 8, 4), 'out.onnx')).resolves.toBeUndefined();
  });
});
