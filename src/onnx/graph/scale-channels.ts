import type { TensorProto } from 'onnx-buf';
import { float32ToFloat16Bits } from '../../core/float16.js';
import { onnxDtypeOf } from '../../formats/onnx/onnx-dtypes.js';

/**
 * A constant broadcast to `dims` with every slice along `axis` divided (or multiplied) by its
 * channel's scale: out[i] = c[b(i)] / s[i_axis] ('divide') or c[b(i)] · s[i_axis] ('multiply'),
 * where b is numpy broadcasting (c's dims right-aligned to `dims`, its 1s repeated). Float64
 * arithmetic rounded once to float32. Example: a scalar 2 rescaled to dims [3] along axis 0 by
 * s = [1, 2, 4] gives [2, 1, 0.5].
 */
export function scaleChannels(c: Float32Array, cDims: readonly number[], dims: readonly number[], axis: number, s: Float32Array, op: 'divide' | 'multiply'): Float32Array {
  const rank = dims.length;
  const padded = [...new Array<number>(rank - cDims.length).fill(1), ...cDims];
  const strides = new Array<number>(rank).fill(0);
  for (let d = rank - 1, stride = 1; d >= 0; d--) {
    strides[d] = padded[d] === 1 ? 0 : stride;
    stride *= padded[d]!;
  }
  const size = dims.reduce((a, d) => a * d, 1);
  const out = new Float32Array(size);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < size; i++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d]! * strides[d]!;
    const v = c[src]!;
    const k = s[idx[axis]!]!;
    out[i] = op === 'divide' ? v / k : v * k;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < dims[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Replaces a float32 or float16 tensor's values in place (same dims and type), as raw data. */
export function writeFloatValues(t: TensorProto, values: Float32Array): void {
  const bytes = onnxDtypeOf(t.dataType) === 'float16' ? float32ToFloat16Bits(values) : values;
  t.rawData = new Uint8Array(bytes.byteLength);
  t.rawData.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  t.floatData = [];
  t.int32Data = [];
}
