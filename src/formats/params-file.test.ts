import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { QuantError } from '../core/errors.js';
import { expectQuantError } from '../../test/helpers/quant-error.js';
import type { QParams } from '../core/qparams.js';
import { computeQParams } from '../core/quantize.js';
import type { ParamsFileV1 } from './params-file.js';
import { decodeParamsFile, decodeParamsScheme, encodeParamsFile, encodeParamsScheme } from './params-file.js';

const BASE: ParamsFileV1 = {
  format: 'quantkit.params',
  version: 1,
  dtype: 'int8',
  bits: 8,
  signed: true,
  symmetric: false,
  narrow: false,
  granularity: 'per_tensor',
  axis: null,
  block_size: null,
  qmin: -128,
  qmax: 127,
  scale: [0.015625],
  zero_point: [-3],
  param_shape: [],
};
const PER_CHANNEL = { ...BASE, granularity: 'per_channel', axis: 0, scale: [0.5, 0.25, 0.125], zero_point: [0, 1, -1], param_shape: [3] };
const PER_BLOCK = { ...BASE, granularity: 'per_block', axis: 1, block_size: 4, scale: [1, 2, 3, 4], zero_point: [0, 0, 0, 0], param_shape: [2, 2] };

function roundTrip(p: QParams): QParams {
  return decodeParamsFile(JSON.parse(JSON.stringify(encodeParamsFile(p))));
}

function expectInvalid(json: unknown, message: string | RegExp): QuantError {
  return expectQuantError(() => decodeParamsFile(json), 'INVALID_PARAMS', message);
}

describe('encodeParamsFile / decodeParamsFile', () => {
  const x = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i * 1.7) * (i + 1) * 0.37);

  it('maps the three granularities both ways and round-trips through JSON', () => {
    const cases: [QParams, Partial<ParamsFileV1>][] = [
      [computeQParams(x, [4, 6], { dtype: 'int8' }), { granularity: 'per_tensor', axis: null, block_size: null, param_shape: [] }],
      [computeQParams(x, [4, 6], { dtype: 'uint4', granularity: { kind: 'per-axis', axis: 1 } }), { granularity: 'per_channel', axis: 1, block_size: null, param_shape: [6] }],
      [
        computeQParams(x, [4, 6], { dtype: 'int4', symmetric: true, narrow: true, granularity: { kind: 'per-block', axis: 1, blockSize: 4 } }),
        { granularity: 'per_block', axis: 1, block_size: 4, param_shape: [4, 2], qmin: -7, qmax: 7, bits: 4, narrow: true, symmetric: true },
      ],
    ];
    for (const [params, expected] of cases) {
      const file = encodeParamsFile(params);
      expect(file).toMatchObject({ format: 'quantkit.params', version: 1, dtype: params.dtype, ...expected });
      const back = roundTrip(params);
      expect(back).toEqual({ ...params, paramShape: [...params.paramShape] });
      expect(back.scale).toBeInstanceOf(Float32Array);
      expect(back.zeroPoint).toBeInstanceOf(Int32Array);
      expect(Object.isFrozen(back)).toBe(true);
    }
  });

  it('reproduces every float32 scale bit for bit', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: Math.fround(1e-45), max: Math.fround(3.4e38), noNaN: true }), { minLength: 1, maxLength: 16 }), (scales) => {
        const scale = Float32Array.from(scales);
        const params: QParams = { ...decodeParamsFile(PER_CHANNEL), scale, zeroPoint: new Int32Array(scale.length), paramShape: [scale.length] };
        const back = roundTrip(params);
        expect(new Uint32Array(back.scale.buffer)).toEqual(new Uint32Array(scale.buffer));
      }),
    );
  });

  it('decodes hand-written files of each granularity', () => {
    expect(decodeParamsFile(BASE).granularity).toEqual({ kind: 'per-tensor' });
    expect(decodeParamsFile(PER_CHANNEL).granularity).toEqual({ kind: 'per-axis', axis: 0 });
    expect(decodeParamsFile(PER_BLOCK).granularity).toEqual({ kind: 'per-block', axis: 1, blockSize: 4 });
    expect(decodeParamsFile({ ...PER_BLOCK, axis: -2 }).granularity).toEqual({ kind: 'per-block', axis: -2, blockSize: 4 });
    expect(decodeParamsFile({ ...BASE, dtype: 'uint16', bits: 16, signed: false, qmin: 0, qmax: 65535, zero_point: [65535] }).qmax).toBe(65535);
  });

  it('refuses to write parameters it could not read back', () => {
    const good = decodeParamsFile(BASE);
    expect(() => encodeParamsFile({ ...good, scale: new Float32Array([NaN]) })).toThrow('params.scale[0]: expected a positive finite number, got NaN');
    expect(() => encodeParamsFile({ ...good, dtype: 'int99' as never })).toThrow(/params.dtype: expected one of int2/);
  });
});

describe('decodeParamsFile validation', () => {
  const cases: [string, unknown, string | RegExp][] = [
    ['not an object', 5, 'params: expected a JSON object, got 5'],
    ['an array', [BASE], 'params: expected a JSON object, got [an object]'],
    ['another format', { ...BASE, format: 'onnx' }, `params.format: expected 'quantkit.params', got "onnx"`],
    ['a missing format', { ...BASE, format: undefined }, `params.format: expected 'quantkit.params', got nothing (the field is missing)`],
    ['a newer version', { ...BASE, version: 2 }, 'params.version: unsupported params version 2 (this quantkit reads 1)'],
    ['a bad version', { ...BASE, version: '1' }, 'params.version: expected 1, got "1"'],
    ['an unknown field', { ...BASE, scales: [1] }, /^params: unknown field\(s\) 'scales' \(known: format, version/],
    ['an unknown dtype', { ...BASE, dtype: 'int1' }, /^params.dtype: expected one of int2, uint2, .*, got "int1"$/],
    ['a missing field', { ...BASE, qmin: undefined }, 'params.qmin: expected an integer, got nothing (the field is missing)'],
    ['bits of the wrong type', { ...BASE, bits: 8.5 }, 'params.bits: expected an integer, got 8.5'],
    ['bits not the dtype\'s', { ...BASE, bits: 4 }, 'params.bits: dtype int8 has 8 bits, got 4'],
    ['signed not the dtype\'s', { ...BASE, signed: false }, 'params.signed: dtype int8 is signed, got signed: false'],
    ['signed not a boolean', { ...BASE, signed: 1 }, 'params.signed: expected true or false, got 1'],
    ['symmetric not a boolean', { ...BASE, symmetric: 'no' }, 'params.symmetric: expected true or false, got "no"'],
    ['narrow on unsigned', { ...BASE, dtype: 'uint8', signed: false, narrow: true, qmin: 0, qmax: 255, zero_point: [0] }, 'params.narrow: narrow range applies to signed dtypes, got narrow: true for uint8'],
    ['qmin off the range', { ...BASE, qmin: -127 }, 'params.qmin: expected -128 for int8, got -127'],
    ['qmin without narrow adjusted', { ...BASE, narrow: true }, 'params.qmin: expected -127 for int8 with narrow range, got -128'],
    ['qmax off the range', { ...BASE, qmax: 128 }, 'params.qmax: expected 127 for int8, got 128'],
    ['a negative scale', { ...PER_CHANNEL, scale: [1, 2, -1] }, 'params.scale[2]: expected a positive finite number, got -1'],
    ['a zero scale', { ...BASE, scale: [0] }, 'params.scale[0]: expected a positive finite number, got 0'],
    ['an infinite scale', { ...BASE, scale: [Infinity] }, 'params.scale[0]: expected a positive finite number, got Infinity'],
    ['a null scale (JSON NaN)', { ...BASE, scale: [null] }, 'params.scale[0]: expected a positive finite number, got null'],
    ['a scale that is not float32', { ...BASE, scale: [0.1] }, 'params.scale[0]: expected a float32 value, got 0.1 (the nearest float32 is 0.10000000149011612)'],
    ['a scale beyond float32', { ...BASE, scale: [1e39] }, 'params.scale[0]: expected a float32 value, got 1e+39 (the nearest float32 is Infinity)'],
    ['scale not an array', { ...BASE, scale: 0.5 }, 'params.scale: expected an array of numbers, got 0.5'],
    ['a fractional zero point', { ...BASE, zero_point: [1.5] }, 'params.zero_point[0]: expected an integer, got 1.5'],
    ['a zero point out of range', { ...PER_CHANNEL, zero_point: [0, 200, 0] }, 'params.zero_point[1]: expected an integer in [-128, 127], got 200'],
    ['a zero point below narrow range', { ...BASE, narrow: true, qmin: -127, zero_point: [-128] }, 'params.zero_point[0]: expected an integer in [-127, 127], got -128'],
    ['too few scales', { ...PER_CHANNEL, scale: [1, 2] }, 'params.scale: expected 3 values (the product of param_shape [3]), got 2'],
    ['too many zero points', { ...PER_BLOCK, zero_point: [0, 0, 0, 0, 0] }, 'params.zero_point: expected 4 values (the product of param_shape [2, 2]), got 5'],
    ['zero_point not an array', { ...BASE, zero_point: 3 }, 'params.zero_point: expected an array of integers, got 3'],
    ['param_shape not an array', { ...BASE, param_shape: null }, 'params.param_shape: expected an array of non-negative integers, got null'],
    ['a dtype that is not a string', { ...BASE, dtype: 8 }, /^params.dtype: expected one of .*, got 8$/],
    ['a bad param_shape entry', { ...PER_CHANNEL, param_shape: [-3] }, 'params.param_shape[0]: expected a non-negative integer, got -3'],
    ['an unknown granularity', { ...BASE, granularity: 'per-tensor' }, `params.granularity: expected 'per_tensor', 'per_channel' or 'per_block', got "per-tensor"`],
    ['per_tensor with an axis', { ...BASE, axis: 0 }, 'params.axis: per_tensor parameters take no axis (null), got 0'],
    ['per_tensor with a block size', { ...BASE, block_size: 2 }, 'params.block_size: per_tensor parameters take no block_size (null), got 2'],
    ['per_tensor with a shape', { ...BASE, param_shape: [1] }, 'params.param_shape: per_tensor parameters have shape [], got [1]'],
    ['per_channel without an axis', { ...PER_CHANNEL, axis: null }, 'params.axis: per_channel parameters need the channel axis, got null'],
    ['per_channel with a block size', { ...PER_CHANNEL, block_size: 2 }, 'params.block_size: per_channel parameters take no block_size (null), got 2'],
    ['per_channel of rank 2', { ...PER_CHANNEL, param_shape: [3, 1] }, 'params.param_shape: per_channel parameters have shape [channels], got [3, 1]'],
    ['a fractional axis', { ...PER_CHANNEL, axis: 0.5 }, 'params.axis: expected an integer or null, got 0.5'],
    ['per_block without a block size', { ...PER_BLOCK, block_size: null }, 'params.block_size: per_block parameters need a block_size, got null'],
    ['per_block with block size 0', { ...PER_BLOCK, block_size: 0 }, 'params.block_size: expected a positive integer or null, got 0'],
    ['per_block without an axis', { ...PER_BLOCK, axis: null }, 'params.axis: per_block parameters need the blocked axis, got null'],
    ['per_block axis out of range', { ...PER_BLOCK, axis: 2 }, 'params.axis: expected an axis in [-2, 1] for param_shape [2, 2], got 2'],
    ['per_block of rank 0', { ...PER_BLOCK, axis: 0, param_shape: [], scale: [1], zero_point: [0] }, 'params.param_shape: per_block parameters have the shape of the tensor with the axis in blocks, got []'],
  ];
  for (const [name, json, message] of cases) {
    it(`rejects ${name}`, () => {
      expectInvalid(json, message);
    });
  }

  it('names a param_shape nested deeper than the stack, rather than overflowing it in the message', () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`);
    expectInvalid({ ...BASE, param_shape: deep }, /^params\.param_shape\[0\]: expected a non-negative integer, got \[\[\[\[\.\.\.\]\]\]\]$/);
  });

  it('lists every problem in details and the first three in the message', () => {
    const e = expectInvalid({ ...PER_CHANNEL, scale: [-1, -2, -3, -4], zero_point: [0, 0, 0, 0], param_shape: [4], symmetric: 0 }, /\(and 2 more\)$/);
    expect(e.details?.issues).toEqual([
      'params.symmetric: expected true or false, got 0',
      'params.scale[0]: expected a positive finite number, got -1',
      'params.scale[1]: expected a positive finite number, got -2',
      'params.scale[2]: expected a positive finite number, got -3',
      'params.scale[3]: expected a positive finite number, got -4',
    ]);
  });
});

describe('encodeParamsScheme / decodeParamsScheme (the arrays kept elsewhere, as in a safetensors file)', () => {
  it('round-trips per-block parameters with the typed arrays taken as they are', () => {
    const x = Float32Array.from({ length: 6 * 40 }, (_, i) => Math.sin(i) * (1 + (i % 3)));
    const p = computeQParams(x, [6, 40], { dtype: 'int4', granularity: { kind: 'per-block', axis: 1, blockSize: 16 } });
    const scheme = encodeParamsScheme(p);
    expect(scheme).toEqual({ ...encodeParamsFile(p), scale: undefined, zero_point: undefined });
    expect(Object.keys(scheme)).not.toContain('scale');
    const back = decodeParamsScheme(JSON.parse(JSON.stringify(scheme)), p.scale, p.zeroPoint);
    expect(back.scale).toBe(p.scale);
    expect(back).toEqual(p);
  });

  it('checks the arrays against the scheme: count, positive float32 scales, zero points in range', () => {
    const p = decodeParamsFile(PER_CHANNEL);
    const scheme = encodeParamsScheme(p);
    const fail = (scale: Float32Array, zp: Int32Array) => {
      try {
        decodeParamsScheme(scheme, scale, zp);
      } catch (e) {
        expect(e).toMatchObject({ code: 'INVALID_PARAMS' });
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(fail(new Float32Array([0.5, 0.25]), Int32Array.from([0, 1, -1]))).toBe('params.scale: expected 3 values (the product of param_shape [3]), got 2');
    expect(fail(Float32Array.from([0.5, -1, 0.125]), Int32Array.from([0, 1, -1]))).toBe('params.scale[1]: expected a positive finite number, got -1');
    expect(fail(Float32Array.from([0.5, 0.25, 0.125]), Int32Array.from([0, 1, 300]))).toBe('params.zero_point[2]: expected an integer in [-128, 127], got 300');
    expect(() => decodeParamsScheme({ ...scheme, scale: [1] }, p.scale, p.zeroPoint)).toThrow(/unknown field\(s\) 'scale'/);
    expect(() => decodeParamsScheme({ ...scheme, version: 2 }, p.scale, p.zeroPoint)).toThrow(/unsupported params version 2/);
  });
});
