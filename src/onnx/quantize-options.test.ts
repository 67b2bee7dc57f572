import { describe, expect, it } from 'vitest';
import { parseQuantizeOptions } from './quantize-options.js';

describe('parseQuantizeOptions', () => {
  it('fills defaults', () => {
    expect(parseQuantizeOptions({})).toMatchObject({ mode: 'weight-only', dtype: 'int8', perChannel: false, blockSize: 32, format: 'qdq', int4Form: 'matmulnbits', exclude: [], quantizeBias: false });
  });
  it('names every bad field', () => {
    expect(() => parseQuantizeOptions({ dtype: 'int5', blockSize: 48, extra: 1 })).toThrow(/dtype: expected dtype int8 \| uint8 \| int4 \| uint4.*blockSize: expected an integer >= 16 and a power of two.*Unrecognized key/);
    for (const blockSize of [48, 8, 16.5, 2 ** 32 + 16]) {
      // Said once, with the value: int, min and power-of-two checks used to each repeat the same message.
      expect(() => parseQuantizeOptions({ blockSize })).toThrow(`invalid ONNX quantization options: blockSize: expected an integer >= 16 and a power of two, got ${blockSize}`);
    }
    expect(parseQuantizeOptions({ blockSize: 2 ** 32 }).blockSize).toBe(2 ** 32);
    expect(() => parseQuantizeOptions({ mode: 'fast' })).toThrow(/INVALID|mode: expected mode weight-only \| dynamic \| static/);
  });
});
