import { describe, expect, it } from 'vitest';
import { computeQParams } from '../core/quantize.js';
import { decodeQuantizedEntry, encodeQuantizedEntry, entryKey, FORMAT_KEY, QUANTKIT_SAFETENSORS_FORMAT, quantizedTensorNames } from './quantized-safetensors.js';
import type { SafetensorsHeader } from './safetensors.js';

const x = Float32Array.from({ length: 4 * 6 }, (_, i) => Math.cos(i) * 2);
const params = computeQParams(x, [4, 6], { dtype: 'int4', granularity: { kind: 'per-block', axis: 1, blockSize: 4 } });

function header(metadata: Record<string, string>, names: string[]): SafetensorsHeader {
  return { tensors: names.map((name, i) => ({ name, dtype: 'I8', shape: [1], begin: i, end: i + 1 })), metadata, dataStart: 8 };
}

describe('quantized safetensors entries', () => {
  it('round-trip the scheme, the source dtype and the packed shape; the arrays come from the tensors', () => {
    const text = encodeQuantizedEntry(params, 'BF16', [4, 6]);
    expect(JSON.parse(text)).toMatchObject({ format: 'quantkit.params', dtype: 'int4', granularity: 'per_block', axis: 1, block_size: 4, param_shape: [4, 2], source_dtype: 'BF16', packed: true, tensor_shape: [4, 6] });
    expect(text).not.toMatch(/scale|zero_point/);
    const back = decodeQuantizedEntry('w', text, params.scale, params.zeroPoint);
    expect(back).toEqual({ params, sourceDtype: 'BF16', packedShape: [4, 6] });
    expect(decodeQuantizedEntry('w', encodeQuantizedEntry(params, 'F32'), params.scale, params.zeroPoint)).toEqual({ params, sourceDtype: 'F32' });
  });

  it('name the tensor in every error', () => {
    const good = JSON.parse(encodeQuantizedEntry(params, 'F16'));
    const bad = (text: string, scale = params.scale) => () => decodeQuantizedEntry('layers.3.w', text, scale, params.zeroPoint);
    expect(bad('{')).toThrow(/^quantized tensor 'layers.3.w': its metadata "quantkit.layers.3.w" is not JSON/);
    expect(bad('[]')).toThrow(/must be a JSON object/);
    expect(bad(JSON.stringify({ ...good, source_dtype: 'I8' }))).toThrow(/"source_dtype" must be one of F32, F16, BF16, F64, got "I8"/);
    expect(bad(JSON.stringify(good), params.scale.subarray(1))).toThrow(/quantized tensor 'layers.3.w': params.scale: expected 8 values/);
    expect(bad(JSON.stringify({ ...good, packed: 'yes' }))).toThrow(/"packed" must be true or false/);
    expect(bad(JSON.stringify({ ...good, packed: true }))).toThrow(/packed codes need "tensor_shape"/);
    try {
      bad('{')();
    } catch (e) {
      expect(e).toMatchObject({ code: 'MALFORMED_FILE' });
    }
  });

  it('list the quantized tensors of a file quantkit wrote, and refuse another version of the layout', () => {
    expect(quantizedTensorNames(header({ format: 'pt' }, ['w']))).toBeUndefined();
    const meta = { [FORMAT_KEY]: QUANTKIT_SAFETENSORS_FORMAT, [entryKey('w')]: '{}', [entryKey('gone')]: '{}', note: 'x' };
    expect(quantizedTensorNames(header(meta, ['w', 'w.scale', 'w.zero_point', 'b']))).toEqual(['w']);
    expect(() => quantizedTensorNames(header({ [FORMAT_KEY]: 'quantkit.safetensors/9' }, []))).toThrow(/"quantkit.safetensors\/9": this quantkit reads "quantkit.safetensors\/1"/);
  });
});
