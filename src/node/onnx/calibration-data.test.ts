import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy } from '../../formats/npy.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../formats/onnx/builders.js';
import { makeTensor } from '../../formats/onnx/tensor.js';
import { quantizeModel } from '../../onnx/quantize-model.js';
import type { StaticQuantizeReport } from '../../onnx/modes/static.js';
import type { TensorMap } from '../../onnx/run-model.js';
import { calibrationHooks, readCalibrationDir } from './calibration-data.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function dir(files: Record<string, { dtype: 'float32' | 'float64' | 'int32'; shape: number[] }>): string {
  const d = mkdtempSync(join(tmpdir(), 'qk-cal-'));
  dirs.push(d);
  for (const [name, f] of Object.entries(files)) {
    const n = f.shape.reduce((a, b) => a * b, 1);
    const data = f.dtype === 'float32' ? Float32Array.from({ length: n }, (_, i) => i / n - 0.5) : f.dtype === 'float64' ? Float64Array.from({ length: n }, (_, i) => i) : new Int32Array(n);
    writeFileSync(join(d, name), encodeNpy({ dtype: f.dtype, shape: f.shape, data }));
  }
  return d;
}
function model(batch: number | string = 1) {
  const g = makeGraph({
    nodes: [makeNode('MatMul', ['input', 'W'], ['y'], { name: 'mm' })],
    inputs: [makeValueInfo('input', 'float32', [batch, 4])],
    outputs: [makeValueInfo('y', 'float32', [batch, 2])],
    initializers: [makeTensor('W', 'float32', [4, 2], new Float32Array([1, -1, 0.5, 2, -0.25, 1, 0, 3]))],
  });
  return makeModel(g, { '': 17 });
}
async function collect(it: AsyncIterable<TensorMap>): Promise<TensorMap[]> {
  const out: TensorMap[] = [];
  for await (const b of it) out.push(b);
  return out;
}

describe('readCalibrationDir', () => {
  it('input.npy with a leading batch axis: runs of the model batch size, in order', async () => {
    const data = readCalibrationDir(dir({ 'input.npy': { dtype: 'float32', shape: [6, 4] } }), model(2));
    expect(data.batches).toBe(3);
    const batches = await collect(data.read());
    expect(batches.map((b) => b.input!.dims)).toEqual([[2, 4], [2, 4], [2, 4]]);
    expect(Array.from(batches[1]!.input!.values.slice(0, 2) as Float32Array)).toEqual([Math.fround(8 / 24 - 0.5), Math.fround(9 / 24 - 0.5)]);
  });

  it('one more axis than the input: one sample per run; float64 converted to float32', async () => {
    const batches = await collect(readCalibrationDir(dir({ 'input.npy': { dtype: 'float64', shape: [3, 1, 4] } }), model(1)).read());
    expect(batches.map((b) => [b.input!.dtype, b.input!.dims])).toEqual([['float32', [1, 4]], ['float32', [1, 4]], ['float32', [1, 4]]]);
    expect(Array.from(batches[2]!.input!.values as Float32Array)).toEqual([8, 9, 10, 11]);
  });

  it('input_0.npy, input_1.npy ...: one file per batch', async () => {
    const data = readCalibrationDir(dir({ 'input_0.npy': { dtype: 'float32', shape: [1, 4] }, 'input_1.npy': { dtype: 'float32', shape: [3, 4] } }), model('N'));
    expect(data.batches).toBe(2);
    expect((await collect(data.read())).map((b) => b.input!.dims)).toEqual([[1, 4], [3, 4]]);
  });

  it('a missing input, a wrong dtype, a wrong shape, a missing directory: clear QuantErrors', () => {
    expect(() => readCalibrationDir(dir({ 'other.npy': { dtype: 'float32', shape: [1, 4] } }), model())).toThrow(/no data for model input 'input': expected input.npy or input_0.npy/);
    expect(() => readCalibrationDir(dir({ 'input.npy': { dtype: 'int32', shape: [2, 4] } }), model())).toThrow(/holds int32: model input 'input' is float32, expected float32 or float64 or float16/);
    expect(() => readCalibrationDir(dir({ 'input.npy': { dtype: 'float32', shape: [2, 5] } }), model())).toThrow(/shape \[2, 5\]: model input 'input' expects \[1, 4\]/);
    expect(() => readCalibrationDir(dir({ 'input.npy': { dtype: 'float32', shape: [4] } }), model())).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => readCalibrationDir(dir({ 'input.npy': { dtype: 'float32', shape: [3, 4] } }), model(2))).toThrow(/3 samples .* multiple of the model's batch size 2/);
    expect(() => readCalibrationDir('/nonexistent/qk-cal', model())).toThrow(expect.objectContaining({ code: 'IO_ERROR' }));
  });

  it('calibrationHooks drive static quantization from a directory, with progress totals', async () => {
    const d = dir({ 'input.npy': { dtype: 'float32', shape: [4, 1, 4] } });
    const { hooks, generated, batches } = calibrationHooks(model(), d);
    expect([generated, batches]).toEqual([false, 4]);
    const events: string[] = [];
    const { report } = await quantizeModel(model(), { mode: 'static' }, { ...hooks, onProgress: (e) => e.phase === 'calibrate' && events.push(`${e.done}/${e.total}`) });
    expect((report as StaticQuantizeReport).calibration).toMatchObject({ batches: 4, generatedInputs: false });
    expect(events).toEqual(['1/4', '2/4', '3/4', '4/4']);
    expect(calibrationHooks(model(), undefined).generated).toBe(true);
  });
});
