import { create } from '@bufbuild/protobuf';
import { TensorProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { QuantError } from '../../core/errors.js';
import { ONNX_DTYPES, onnxDtypeOf, rawByteLength } from './onnx-dtypes.js';
import { externalDataRef, makeExternalTensor, makeTensor, readFloat32, readTensor, tensorBytes } from './tensor.js';

describe('ONNX dtype table', () => {
  it('maps codes both ways and sizes packed types', () => {
    expect(onnxDtypeOf(1)).toBe('float32');
    expect(onnxDtypeOf(22)).toBe('int4');
    expect(ONNX_DTYPES.uint4.code).toBe(21);
    expect(rawByteLength('int4', 5)).toBe(3);
    expect(rawByteLength('int64', 3)).toBe(24);
    expect(() => onnxDtypeOf(99)).toThrow(/unknown ONNX tensor data type 99/);
  });
});

describe('makeTensor / readTensor', () => {
  it('round-trips every numeric storage through raw_data', () => {
    const cases = [
      ['float32', new Float32Array([1.5, -2, 3e-8])],
      ['float64', new Float64Array([1.5, -2])],
      ['int8', new Int8Array([-128, 127])],
      ['uint8', new Uint8Array([0, 255])],
      ['int32', new Int32Array([-5, 7])],
      ['int64', new BigInt64Array([-5n, 1n << 40n])],
      ['float16', new Uint16Array([0x3c00, 0xc000])],
    ] as const;
    for (const [dtype, values] of cases) {
      const t = makeTensor('t', dtype, [values.length], values);
      const back = readTensor(t);
      expect(back.dtype).toBe(dtype);
      expect(back.dims).toEqual([values.length]);
      expect(Array.from(back.values as ArrayLike<unknown>)).toEqual(Array.from(values as ArrayLike<unknown>));
    }
  });

  it('packs int4 two per byte, first code in the low nibble, and reads it back sign-extended', () => {
    const t = makeTensor('q', 'int4', [3], new Int8Array([1, -2, 7]));
    expect(Array.from(t.rawData)).toEqual([0x01 | (0x0e << 4), 0x07]);
    expect(Array.from(readTensor(t).values as ArrayLike<number>)).toEqual([1, -2, 7]);
    const u = makeTensor('u', 'uint4', [2, 2], new Uint8Array([15, 0, 3, 9]));
    expect(Array.from(u.rawData)).toEqual([0x0f, 0x93]);
    expect(Array.from(readTensor(u).values as ArrayLike<number>)).toEqual([15, 0, 3, 9]);
  });

  it('reads typed fields: float_data, int64_data, int32_data for float16, int8 and packed int4', () => {
    const f = create(TensorProtoSchema, { name: 'f', dataType: 1, dims: [2n], floatData: [0.5, -1] });
    expect(Array.from(readTensor(f).values as ArrayLike<number>)).toEqual([0.5, -1]);
    const l = create(TensorProtoSchema, { name: 'l', dataType: 7, dims: [2n], int64Data: [3n, -4n] });
    expect(Array.from(readTensor(l).values as BigInt64Array)).toEqual([3n, -4n]);
    const h = create(TensorProtoSchema, { name: 'h', dataType: 10, dims: [1n], int32Data: [0x3c00] });
    expect(Array.from(readFloat32(h))).toEqual([1]);
    const b = create(TensorProtoSchema, { name: 'b', dataType: 3, dims: [2n], int32Data: [-3, 4] });
    expect(Array.from(readTensor(b).values as ArrayLike<number>)).toEqual([-3, 4]);
    const q = create(TensorProtoSchema, { name: 'q', dataType: 22, dims: [3n], int32Data: [0xe1, 0x07] });
    expect(Array.from(readTensor(q).values as ArrayLike<number>)).toEqual([1, -2, 7]);
  });

  it('copies unaligned raw_data instead of failing to view it', () => {
    const buf = new Uint8Array(9);
    new DataView(buf.buffer).setFloat32(1, 2.5, true);
    new DataView(buf.buffer).setFloat32(5, -1, true);
    const t = create(TensorProtoSchema, { name: 'u', dataType: 1, dims: [2n], rawData: buf.subarray(1) });
    expect(Array.from(readFloat32(t))).toEqual([2.5, -1]);
  });

  it('converts float16, bfloat16, float64 and integers to float32', () => {
    expect(Array.from(readFloat32(makeTensor('b', 'bfloat16', [1], new Uint16Array([0x3fc0]))))).toEqual([1.5]);
    expect(Array.from(readFloat32(makeTensor('d', 'float64', [1], new Float64Array([0.1]))))).toEqual([Math.fround(0.1)]);
    expect(Array.from(readFloat32(makeTensor('i', 'int64', [1], new BigInt64Array([-7n]))))).toEqual([-7]);
  });

  it('rejects data of the wrong size or type with clear errors', () => {
    const short = create(TensorProtoSchema, { name: 'w', dataType: 1, dims: [3n], rawData: new Uint8Array(8) });
    expect(() => readTensor(short)).toThrow(/tensor 'w' of float32\[3\] needs 12 bytes, got 8/);
    const few = create(TensorProtoSchema, { name: 'f', dataType: 1, dims: [3n], floatData: [1] });
    expect(() => readTensor(few)).toThrow(/needs 3 values in floatData, got 1/);
    expect(() => makeTensor('x', 'float32', [2], new Float32Array(3))).toThrow(/needs 2 values, got 3/);
    expect(() => makeTensor('x', 'float32', [1], new Int8Array(1))).toThrow(/needs a Float32Array/);
    const s = create(TensorProtoSchema, { name: 's', dataType: 8, dims: [1n] });
    expect(() => readTensor(s)).toThrow(QuantError);
  });

  it('rejects a declared shape larger than its data before allocating for it (no RangeError)', () => {
    const empty = create(TensorProtoSchema, { name: 'big', dataType: 1, dims: [1n << 40n] });
    expect(() => readFloat32(empty)).toThrow(/tensor 'big' of float32\[1099511627776\] needs 1099511627776 values in floatData, got 0/);
    const unsafe = create(TensorProtoSchema, { name: 'huge', dataType: 1, dims: [1n << 20n, 1n << 20n, 1n << 20n], floatData: [1] });
    expect(() => readFloat32(unsafe)).toThrow(/tensor 'huge' has shape \[1048576, 1048576, 1048576\]: expected at most/);
    for (const t of [empty, unsafe]) expect(() => readTensor(t)).toThrow(QuantError);
  });

  it('resolves external data through the loader it is given', () => {
    const t = makeExternalTensor('w', 'float32', [2], { location: 'w.bin', offset: 8, length: 8 });
    expect(externalDataRef(t)).toEqual({ location: 'w.bin', offset: 8, length: 8 });
    expect(() => tensorBytes(t)).toThrow(/stored in external data: pass a loader/);
    const file = new Float32Array([0, 0, 4, -4]);
    const loader = (ref: { offset: number; length: number | undefined }) => new Uint8Array(file.buffer, ref.offset, ref.length);
    expect(Array.from(readFloat32(t, loader))).toEqual([4, -4]);
    const noLocation = create(TensorProtoSchema, { name: 'n', dataType: 1, dims: [1n], dataLocation: 1 });
    expect(() => externalDataRef(noLocation)).toThrow(/has no 'location' entry/);
  });
});
