import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../formats/onnx/builders.js';
import { encodeModel } from '../../formats/onnx/model.js';
import { makeExternalTensor, makeTensor, readFloat32 } from '../../formats/onnx/tensor.js';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
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

  describe('defects the fuzzing found, as named cases', () => {
    const withExternal = (d: string, ref: { location: string; offset: number; length?: number }) => {
      const g = makeGraph({ nodes: [], inputs: [], outputs: [], initializers: [makeExternalTensor('W', 'float32', [2], { length: undefined, ...ref })] });
      const p = join(d, 'm.onnx');
      writeFileSync(p, encodeModel(makeModel(g, { '': 17 })));
      return p;
    };

    it('an offset past the end of the data file, with no length, is MALFORMED_FILE (was a RangeError)', () => {
      const d = tempDir();
      writeFileSync(join(d, 'w.bin'), new Uint8Array(8));
      expectQuantError(() => loadModel(withExternal(d, { location: 'w.bin', offset: 9 })), 'MALFORMED_FILE', /tensor 'W' needs bytes 9..9 of 'w.bin', which has 8/);
    });

    it('a directory as the data file is IO_ERROR naming the tensor (was a bare EISDIR error)', () => {
      const d = tempDir();
      mkdirSync(join(d, 'sub'));
      expectQuantError(() => loadModel(withExternal(d, { location: 'sub', offset: 0, length: 8 })), 'IO_ERROR', /tensor 'W' of '.*m.onnx' is stored in 'sub', which cannot be read: is a directory/);
    });

    it('a FIFO as the data file is refused at once instead of waiting for a writer', () => {
      const d = tempDir();
      expect(spawnSync('mkfifo', [join(d, 'w.fifo')]).status).toBe(0);
      expectQuantError(() => loadModel(withExternal(d, { location: 'w.fifo', offset: 0, length: 8 })), 'IO_ERROR', /stored in 'w.fifo', which cannot be read: not a regular file/);
    });

    it('a location holding a line break is quoted on one line', () => {
      const d = tempDir();
      expectQuantError(() => loadModel(withExternal(d, { location: 'w\nbin', offset: 0, length: 8 })), 'IO_ERROR', /stored in 'w\\u000abin', which cannot be read: no such file/);
    });
  });
});

