import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../formats/onnx/builders.js';
import { encodeModel } from '../formats/onnx/model.js';
import { makeExternalTensor, makeTensor, readFloat32 } from '../formats/onnx/tensor.js';
import { loadModel, saveModel } from './onnx-file.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'qk-onnx-file-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function model() {
  const big = new Float32Array(1000).map((_, i) => i * 0.25);
  const g = makeGraph({
    nodes: [makeNode('MatMul', ['x', 'W'], ['y0']), makeNode('Add', ['y0', 'b'], ['y'])],
    inputs: [makeValueInfo('x', 'float32', [1, 10])],
    outputs: [makeValueInfo('y', 'float32', [1, 100])],
    initializers: [makeTensor('W', 'float32', [10, 100], big), makeTensor('b', 'float32', [1], new Float32Array([3]))],
  });
  return makeModel(g, { '': 17 });
}

describe('saveModel / loadModel', () => {
  it('writes one file by default and reads it back', () => {
    const d = tempDir();
    const p = join(d, 'm.onnx');
    expect(saveModel(p, model())).toEqual([p]);
    expect(readdirSync(d)).toEqual(['m.onnx']);
    expect(readFloat32(loadModel(p).graph!.initializer[0]!)[3]).toBe(0.75);
  });

  it('moves initializers over the threshold to a side file, leaves the model in memory unchanged, and loads them back', () => {
    const d = tempDir();
    const p = join(d, 'm.onnx');
    const m = model();
    const before = encodeModel(m);
    expect(saveModel(p, m, { externalData: true })).toEqual([p, join(d, 'm.onnx.data')]);
    expect(Buffer.compare(Buffer.from(encodeModel(m)), Buffer.from(before))).toBe(0);
    expect(statSync(p).size).toBeLessThan(500);
    expect(statSync(join(d, 'm.onnx.data')).size).toBe(4000);
    const back = loadModel(p);
    expect(Array.from(readFloat32(back.graph!.initializer[0]!))).toEqual(Array.from(readFloat32(m.graph!.initializer[0]!)));
    expect(back.graph!.initializer[0]!.dataLocation).toBe(0);
    // The small bias stayed inline.
    expect(back.graph!.initializer[1]!.externalData).toEqual([]);
  });

  it('names the tensor and the file when external data is missing or short', () => {
    const d = tempDir();
    const p = join(d, 'm.onnx');
    saveModel(p, model(), { externalData: { threshold: 0 } });
    renameSync(join(d, 'm.onnx.data'), join(d, 'elsewhere'));
    expect(() => loadModel(p)).toThrow(/tensor 'W' of '.*m.onnx' is stored in 'm.onnx.data', which cannot be read: no such file or directory/);
    writeFileSync(join(d, 'm.onnx.data'), new Uint8Array(100));
    expect(() => loadModel(p)).toThrow(/needs bytes 0..4000 of 'm.onnx.data', which has 100/);
  });

  it('refuses external locations outside the model directory', () => {
    const d = tempDir();
    const g = makeGraph({ nodes: [], inputs: [], outputs: [], initializers: [makeExternalTensor('W', 'float32', [1], { location: '../secret', offset: 0, length: 4 })] });
    const p = join(d, 'm.onnx');
    writeFileSync(p, encodeModel(makeModel(g, { '': 17 })));
    expect(() => loadModel(p)).toThrow(/expected a path relative to the model's directory/);
  });

  it('reports unreadable and malformed model files with their path', () => {
    const d = tempDir();
    expect(() => loadModel(join(d, 'none.onnx'))).toThrow(/cannot read '.*none.onnx': no such file or directory/);
    writeFileSync(join(d, 'bad.onnx'), 'not a model at all');
    expect(() => loadModel(join(d, 'bad.onnx'))).toThrow(/bad.onnx': not an ONNX model/);
    expect(existsSync(join(d, 'bad.onnx'))).toBe(true);
    void readFileSync;
  });
});
