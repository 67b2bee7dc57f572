import { Tensor } from 'onnxruntime-common';
import { describe, expect, test } from 'vitest';
import { toCodeTensor, toFloatTensor, toNestedArray } from './tensor-input.js';

describe('toFloatTensor', () => {
  test('a Float32Array is used without a copy (rank 1)', () => {
    const x = new Float32Array([1, 2, 3]);
    const t = toFloatTensor(x);
    expect(t.data).toBe(x);
    expect(t.shape).toEqual([3]);
    expect(t.copied).toBe(false);
  });

  test('{ data, shape } with a Float32Array is used without a copy', () => {
    const x = new Float32Array(6);
    const t = toFloatTensor({ data: x, shape: [2, 3] });
    expect(t.data).toBe(x);
    expect(t.shape).toEqual([2, 3]);
  });

  test('an onnxruntime-common float32 Tensor is used without a copy', () => {
    const x = new Float32Array([1, 2, 3, 4, 5, 6]);
    const tensor = new Tensor('float32', x, [3, 2]);
    const t = toFloatTensor(tensor);
    expect(t.data).toBe(x);
    expect(t.shape).toEqual([3, 2]);
    expect(t.copied).toBe(false);
  });

  test('other numeric tensors and typed arrays are converted to float32', () => {
    const t = toFloatTensor(new Tensor('float64', new Float64Array([0.1, 2]), [2]));
    expect(Array.from(t.data)).toEqual([Math.fround(0.1), 2]);
    expect(t.copied).toBe(true);
    expect(Array.from(toFloatTensor(new Int16Array([-3, 4])).data)).toEqual([-3, 4]);
    expect(Array.from(toFloatTensor({ data: [1, 2], shape: [1, 2] }).data)).toEqual([1, 2]);
  });

  test('nested arrays of any rank', () => {
    expect(toFloatTensor(5)).toMatchObject({ shape: [] });
    expect(toFloatTensor([1, 2]).shape).toEqual([2]);
    const t = toFloatTensor([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]]);
    expect(t.shape).toEqual([2, 3, 2]);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(toFloatTensor([[[[1]]], [[[2]]]]).shape).toEqual([2, 1, 1, 1]);
    expect(toFloatTensor([]).shape).toEqual([0]);
    expect(toFloatTensor([[], []]).shape).toEqual([2, 0]);
  });

  test('ragged arrays are SHAPE_MISMATCH naming where', () => {
    expect(() => toFloatTensor([[1, 2, 3], [4, 5]])).toThrow('data is ragged: the array at [1] has length 2, expected 3 (shape [2, 3] from the first elements)');
    expect(() => toFloatTensor([[1, 2], 3])).toThrow('data is ragged: expected an array at [1], got number');
    expect(() => toFloatTensor([1, [2]])).toThrow('data is ragged: expected a number at [1], got an array');
    expect(() => toFloatTensor([[[1], [2]], [[3], [4, 5]]])).toThrow(/ragged: the array at \[1, 1\] has length 2/);
    try {
      toFloatTensor([[1], [2, 3]]);
    } catch (e) {
      expect((e as { code: string }).code).toBe('SHAPE_MISMATCH');
    }
  });

  test('non-numbers are INVALID_ARGUMENT naming the index', () => {
    expect(() => toFloatTensor([[1, 'a']])).toThrow('data: expected a number at [0, 1], got the string "a"');
    expect(() => toFloatTensor([null])).toThrow('data: expected a number at [0], got null');
    expect(() => toFloatTensor('abc')).toThrow(/expected a typed array, a \(nested\) number array/);
    expect(() => toFloatTensor({ data: [1, 'x'], shape: [2] })).toThrow('data: expected a number at [1], got the string "x"');
    expect(() => toFloatTensor(new Tensor('string', ['a'], [1]))).toThrow('data: expected a number at [0], got the string "a"');
  });

  test('a shape that does not fit the data is SHAPE_MISMATCH', () => {
    expect(() => toFloatTensor({ data: new Float32Array(5), shape: [2, 3] })).toThrow('data: shape [2, 3] has 6 elements but the data has 5');
    expect(() => toFloatTensor({ data: new Float32Array(5), shape: [-5] })).toThrow(/invalid dimension -5/);
  });
});

describe('toCodeTensor', () => {
  test('codes already in the storage type are used without a copy', () => {
    const c = new Int8Array([1, -2]);
    expect(toCodeTensor(c, 'int8', -128, 127).codes).toBe(c);
    const u = new Uint8Array(4);
    const t = toCodeTensor(new Tensor('uint8', u, [2, 2]), 'uint8', 0, 255);
    expect(t.codes).toBe(u);
    expect(t.shape).toEqual([2, 2]);
  });

  test('other inputs are converted with every code checked', () => {
    const t = toCodeTensor([[1, -8], [7, 0]], 'int8', -8, 7);
    expect(t.codes).toBeInstanceOf(Int8Array);
    expect(Array.from(t.codes)).toEqual([1, -8, 7, 0]);
    expect(Array.from(toCodeTensor(new Int32Array([300]), 'uint16', 0, 65535).codes)).toEqual([300]);
    expect(Array.from(toCodeTensor(new Tensor('int64', new BigInt64Array([3n, -4n]), [2]), 'int8', -128, 127).codes)).toEqual([3, -4]);
    expect(() => toCodeTensor([[1, 8]], 'int8', -8, 7)).toThrow('codes: expected an integer code in -8..7 at [0, 1], got 8');
    expect(() => toCodeTensor([1.5], 'int8', -128, 127)).toThrow('codes: expected an integer code in -128..127 at [0], got 1.5');
    expect(() => toCodeTensor(new Float32Array([256]), 'uint8', 0, 255)).toThrow('at [0], got 256');
  });
});

test('toNestedArray is the inverse of nested input', () => {
  const nested = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]];
  const t = toFloatTensor(nested);
  expect(toNestedArray(t.data, t.shape)).toEqual(nested);
  expect(toNestedArray(new Float32Array([4]), [])).toBe(4);
});
