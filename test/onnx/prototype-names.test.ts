import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/formats/onnx/builders.js';
import { encodeModel } from '../../src/formats/onnx/model.js';
import { encodeNpy } from '../../src/formats/npy.js';
import { makeTensor } from '../../src/formats/onnx/tensor.js';
import { randomWeights } from './models.js';
import { cli } from './onnx-cli.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs the CLI and onnxruntime in child processes.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const dir = mkdtempSync(join(tmpdir(), 'qk-onnx-names-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** x -> MatMul W [16, 8] -> Add b -> y, with its input named `input` and its output `output`. */
function model(input: string, output: string) {
  const g = makeGraph({
    nodes: [makeNode('MatMul', [input, 'W'], ['h'], { name: 'mm' }), makeNode('Add', ['h', 'b'], [output], { name: 'add' })],
    inputs: [makeValueInfo(input, 'float32', [2, 16])],
    outputs: [makeValueInfo(output, 'float32', [2, 8])],
    initializers: [makeTensor('W', 'float32', [16, 8], randomWeights(128, 1)), makeTensor('b', 'float32', [8], randomWeights(8, 2))],
  });
  return makeModel(g, { '': 17 });
}

// Tensor names come from the model file: feeds keyed by them must be plain key maps ("__proto__"
// on an ordinary object sets its prototype, and onnxruntime then takes the feeds for a Tensor).
describe.each(['__proto__', 'constructor', 'toString'])('a model input named %s', (name) => {
  it('is fed by name: static calibration (--calibration files, generated inputs) and compare', async () => {
    const sub = mkdtempSync(join(dir, 'm-'));
    const input = join(sub, 'm.onnx');
    writeFileSync(input, encodeModel(model(name, 'y')));
    const cal = join(sub, 'cal');
    mkdirSync(cal);
    writeFileSync(join(cal, `${name}.npy`), encodeNpy({ dtype: 'float32', shape: [2, 16], data: randomWeights(32, 7) }));
    const out = join(sub, 'q.onnx');
    const r = await cli(['onnx', 'quantize', input, '-o', out, '--mode', 'static', '--calibration', cal]);
    const gen = await cli(['onnx', 'quantize', input, '-o', join(sub, 'g.onnx'), '--mode', 'static']);
    if (name === '__proto__') {
      // Static calibration fetches the input back from onnxruntime, whose results object cannot hold
      // that name: refused in one line, rather than a tensor silently missing.
      for (const c of [r, gen]) {
        expect(c.code).toBe(1);
        expect(c.stderr.trimEnd().split('\n').at(-1)).toEqual("quantkit: onnxruntime-node cannot return a tensor named '__proto__' (its results are keyed by name on an ordinary object): rename it in the model");
      }
      expect((await cli(['onnx', 'quantize', input, '-o', out, '--mode', 'dynamic'])).code).toBe(0);
    } else {
      expect(r.code, r.stderr).toBe(0);
      expect(gen.code, gen.stderr).toBe(0);
    }
    const cmp = await cli(['onnx', 'compare', input, out, '--inputs', cal, '--json']);
    expect(cmp.code, cmp.stderr).toBe(0);
  });
});
