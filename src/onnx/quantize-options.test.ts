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
  it('refuses hqq at int2 with the reason, and keeps it at int3 and int4', () => {
    // Its scale refit clipped every 4-level block harder than rtn: the PP-OCR detector's output went to zero.
    expect(() => parseQuantizeOptions({ dtype: 'int2', method: 'hqq' })).toThrow(/method hqq at dtype int2 is refused: its scale refit clips .* use gptq or search for int2/);
    expect(() => parseQuantizeOptions({ dtype: 'int2', method: 'hqq', symmetric: true })).toThrow(/method hqq at dtype int2 is refused/);
    for (const dtype of ['int3', 'int4'] as const) expect(parseQuantizeOptions({ dtype, method: 'hqq' })).toMatchObject({ dtype, method: 'hqq', symmetric: false });
    expect(parseQuantizeOptions({ dtype: 'int2', method: 'gptq' })).toMatchObject({ dtype: 'int2', method: 'gptq' });
  });
});
