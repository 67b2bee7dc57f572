import { describe, expect, it } from 'vitest';
import { makeTensor, readFloat32, tensorDims } from '../../formats/onnx/tensor.js';
import { scaleChannels, writeFloatValues } from './scale-channels.js';

describe('scaleChannels', () => {
  it('spreads a scalar out to one value per channel', () => {
    expect(Array.from(scaleChannels(new Float32Array([2]), [], [3], 0, new Float32Array([1, 2, 4]), 'divide'))).toEqual([2, 1, 0.5]);
  });
  it('repeats a broadcast axis and scales along another, right-aligned as numpy broadcasts', () => {
    // c [1, 3] to [2, 3] along axis 0: row r is c · s[r].
    expect(Array.from(scaleChannels(new Float32Array([1, 2, 3]), [1, 3], [2, 3], 0, new Float32Array([10, 100]), 'multiply'))).toEqual([10, 20, 30, 100, 200, 300]);
    // c [3] padded to [2, 3] (a leading axis gained) along axis 1.
    expect(Array.from(scaleChannels(new Float32Array([1, 2, 3]), [3], [2, 3], 1, new Float32Array([1, 2, 3]), 'divide'))).toEqual([1, 1, 1, 1, 1, 1]);
  });
});

describe('writeFloatValues', () => {
  it('replaces float32 and float16 values in place, keeping dims and type, and drops float_data', () => {
    const t = makeTensor('w', 'float32', [2], new Float32Array([1, 2]));
    t.floatData = [1, 2];
    writeFloatValues(t, new Float32Array([3, 4]));
    expect(t.floatData).toEqual([]);
    expect(Array.from(readFloat32(t))).toEqual([3, 4]);
    const h = makeTensor('h', 'float16', [2], new Uint16Array([0x3c00, 0x4000]));
    writeFloatValues(h, new Float32Array([0.5, 3]));
    expect(tensorDims(h)).toEqual([2]);
    expect(Array.from(readFloat32(h))).toEqual([0.5, 3]);
  });
});
