import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { viewAt } from '../../test/helpers/buffer-views.js';
import { FUZZ } from '../../test/helpers/fuzz.js';
import { errorText, expectQuantError } from '../../test/helpers/quant-error.js';
import type { QuantDtypeName } from '../core/dtypes.js';
import { QUANT_DTYPE_NAMES, QUANT_DTYPES, quantRange } from '../core/dtypes.js';
import type { Granularity } from '../core/layout.js';
import type { QParams } from '../core/qparams.js';
import { computeQParams } from '../core/quantize.js';
import { decodeParamsFile } from './params-file.js';
import { decodeStoredParams, encodeParamsJson } from './params-json.js';
import { decodeParamsSafetensors, encodeParamsSafetensors } from './params-safetensors.js';
import type { SafetensorsDtype } from './safetensors.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';

const bits32 = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Parameters of any dtype and granularity with the given arrays (the scheme's fields filled in from the dtype). */
function paramsOf(dtype: QuantDtypeName, narrow: boolean, granularity: Granularity, paramShape: number[], scale: Float32Array, zeroPoint: Int32Array): QParams {
  const { qmin, qmax } = quantRange(QUANT_DTYPES[dtype], narrow);
  return { dtype, symmetric: false, narrow, qmin, qmax, granularity, paramShape, scale, zeroPoint };
}

/** Any valid parameters: every dtype, narrow or not, the three granularities, float32 scales down to the smallest subnormal and up to the largest finite, zero points anywhere in [qmin, qmax]. */
const anyParams: fc.Arbitrary<QParams> = fc
  .tuple(fc.constantFrom(...QUANT_DTYPE_NAMES), fc.boolean(), fc.constantFrom('per-tensor', 'per-axis', 'per-block'), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }))
  .chain(([dtype, narrowWanted, kind, a, b]) => {
    const narrow = narrowWanted && QUANT_DTYPES[dtype].signed;
    const { qmin, qmax } = quantRange(QUANT_DTYPES[dtype], narrow);
    const granularity: Granularity = kind === 'per-tensor' ? { kind } : kind === 'per-axis' ? { kind, axis: 1 } : { kind, axis: -1, blockSize: 3 };
    const shape = kind === 'per-tensor' ? [] : kind === 'per-axis' ? [a] : [a, b];
    const n = shape.reduce((p, d) => p * d, 1);
    const scale = fc.array(fc.oneof(fc.float({ min: 2 ** -149, max: 3.4028234663852886e38, noNaN: true }), fc.constantFrom(2 ** -149, 3.4028234663852886e38, 1, 2 ** -126 - 2 ** -149)), { minLength: n, maxLength: n });
    const zp = fc.array(fc.oneof(fc.integer({ min: qmin, max: qmax }), fc.constantFrom(qmin, qmax)), { minLength: n, maxLength: n });
    return fc.tuple(scale, zp).map(([s, z]) => paramsOf(dtype, narrow, granularity, shape, Float32Array.from(s), Int32Array.from(z)));
  });

describe('encodeParamsSafetensors / decodeParamsSafetensors', () => {
  it('round-trips every dtype bit for bit, as the JSON file does: float32 scales (subnormal to max) and zero points of the full range', () => {
    fc.assert(
      fc.property(anyParams, fc.option(fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 3 }), { nil: undefined }), (params, packedShape) => {
        const fromBinary = decodeParamsSafetensors(encodeParamsSafetensors(params, packedShape));
        const fromJson = decodeStoredParams(JSON.parse(encodeParamsJson(params, packedShape)));
        for (const back of [fromBinary, fromJson]) {
          expect(bits32(back.params.scale)).toEqual(bits32(params.scale));
          expect(Array.from(back.params.zeroPoint)).toEqual(Array.from(params.zeroPoint));
          expect(back.params).toEqual({ ...params, paramShape: [...params.paramShape], granularity: params.granularity });
          expect(back.packedShape).toEqual(packedShape);
        }
      }),
      FUZZ,
    );
  });

  it('stores zero points in the codes\' own type, at both ends of each range', () => {
    const seen = new Map<string, string>();
    for (const dtype of QUANT_DTYPE_NAMES) {
      const { qmin, qmax } = QUANT_DTYPES[dtype];
      const params = paramsOf(dtype, false, { kind: 'per-axis', axis: 0 }, [3], Float32Array.of(1, 2 ** -149, 0.1), Int32Array.of(qmin, qmax, qmin + 1));
      const bytes = encodeParamsSafetensors(params);
      const file = decodeSafetensors(bytes);
      const zp = file.header.tensors.find((t) => t.name === 'zero_point')!;
      seen.set(QUANT_DTYPES[dtype].storage, zp.dtype);
      expect(file.header.tensors.find((t) => t.name === 'scale')).toMatchObject({ dtype: 'F32', shape: [3] });
      expect(zp.shape).toEqual([3]);
      expect(Array.from(decodeParamsSafetensors(bytes).params.zeroPoint)).toEqual([qmin, qmax, qmin + 1]);
    }
    expect(Object.fromEntries(seen)).toEqual({ int8: 'I8', uint8: 'U8', int16: 'I16', uint16: 'U16' });
  });

  it('writes the scheme in __metadata__, one key a field, and the arrays little-endian', () => {
    const params = decodeParamsFile({
      format: 'quantkit.params', version: 1, dtype: 'int4', bits: 4, signed: true, symmetric: true, narrow: true, granularity: 'per_block',
      axis: -1, block_size: 32, qmin: -7, qmax: 7, scale: [0.5, 3], zero_point: [0, -7], param_shape: [2, 1],
    });
    const bytes = encodeParamsSafetensors(params, [2, 20]);
    const file = decodeSafetensors(bytes);
    expect(file.header.metadata).toEqual({
      format: 'quantkit.params', version: '1', dtype: 'int4', bits: '4', signed: 'true', symmetric: 'true', narrow: 'true', granularity: 'per_block',
      axis: '-1', block_size: '32', qmin: '-7', qmax: '7', param_shape: '[2,1]', packed: 'true', tensor_shape: '[2,20]',
    });
    expect(Array.from(file.tensorBytes('scale'))).toEqual([0, 0, 0, 0x3f, 0, 0, 0x40, 0x40]);
    expect(Array.from(file.tensorBytes('zero_point'))).toEqual([0, 0xf9]);
    expect(file.header.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([['scale', 'F32', [2, 1]], ['zero_point', 'I8', [2, 1]]]);
  });

  it('holds per-block parameters in 5 bytes each (int4), a fraction of their JSON', () => {
    const x = Float32Array.from({ length: 64 * 256 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 11)));
    const params = computeQParams(x, [64, 256], { dtype: 'int4', granularity: { kind: 'per-block', axis: 1, blockSize: 32 } });
    const bytes = encodeParamsSafetensors(params);
    expect(params.scale.length).toBe(512);
    expect(bytes.length).toBeLessThan(512 * 5 + 512);
    expect(bytes.length * 4).toBeLessThan(encodeParamsJson(params).length);
  });

  it('reads a view of a pooled Buffer from its own offset, and copies the arrays out of it', () => {
    const params = paramsOf('int16', false, { kind: 'per-axis', axis: 0 }, [3], Float32Array.of(0.25, 7, 1e-30), Int32Array.of(-32768, 32767, 5));
    const bytes = encodeParamsSafetensors(params);
    for (const offset of [1, 3, 6]) {
      const view = viewAt(bytes, offset);
      const back = decodeParamsSafetensors(view).params;
      expect(bits32(back.scale)).toEqual(bits32(params.scale));
      expect(Array.from(back.zeroPoint)).toEqual([-32768, 32767, 5]);
      view.fill(0);
      expect(bits32(back.scale)).toEqual(bits32(params.scale));
    }
  });

  it('refuses to write parameters it could not read back', () => {
    const good = paramsOf('int8', false, { kind: 'per-tensor' }, [], Float32Array.of(1), Int32Array.of(0));
    expectQuantError(() => encodeParamsSafetensors({ ...good, scale: Float32Array.of(-1) }), 'INVALID_PARAMS', 'params.scale[0]: expected a positive finite number, got -1');
    expectQuantError(() => encodeParamsSafetensors({ ...good, zeroPoint: Int32Array.of(128) }), 'INVALID_PARAMS', 'params.zero_point[0]: expected an integer in [-128, 127], got 128');
  });
});

describe('decodeParamsSafetensors on files that are not right', () => {
  const good = paramsOf('uint4', false, { kind: 'per-axis', axis: 0 }, [2], Float32Array.of(0.5, 0.25), Int32Array.of(0, 15));
  const goodFile = decodeSafetensors(encodeParamsSafetensors(good));
  const metadata = goodFile.header.metadata;
  const scaleBytes = goodFile.tensorBytes('scale');
  const zpBytes = goodFile.tensorBytes('zero_point');
  type T = { name: string; dtype: SafetensorsDtype; shape: number[]; data: Uint8Array };
  const scaleT: T = { name: 'scale', dtype: 'F32', shape: [2], data: scaleBytes };
  const zpT: T = { name: 'zero_point', dtype: 'U8', shape: [2], data: zpBytes };
  const fileOf = (tensors: T[], meta: Record<string, string> = metadata) => encodeSafetensors(tensors, meta);
  const text = (tensors: T[], meta?: Record<string, string>) => errorText(() => decodeParamsSafetensors(fileOf(tensors, meta)));

  it('reads the good file', () => {
    expect(text([scaleT, zpT])).toBe('no error');
    expect(text([zpT, scaleT])).toBe('no error');
  });

  it('names what is wrong, MALFORMED_FILE for the container and INVALID_PARAMS for the parameters', () => {
    const cases: [string, string][] = [
      [errorText(() => decodeParamsSafetensors(new TextEncoder().encode('{"format": "quantkit.params"}'))), 'MALFORMED_FILE: '],
      [text([scaleT]), "MALFORMED_FILE: no tensor 'zero_point': a parameters file holds the tensors 'scale' and 'zero_point' only"],
      [text([zpT]), "MALFORMED_FILE: no tensor 'scale': a parameters file holds the tensors 'scale' and 'zero_point' only"],
      [text([scaleT, zpT, { ...zpT, name: 'W' }]), `MALFORMED_FILE: unexpected tensor "W": a parameters file holds the tensors 'scale' and 'zero_point' only`],
      [text([{ ...scaleT, dtype: 'I32' }, zpT]), "MALFORMED_FILE: tensor 'scale' must be F32, got I32"],
      [text([scaleT, { ...zpT, dtype: 'BOOL' }]), "MALFORMED_FILE: tensor 'zero_point' must be I8, U8, I16 or U16 (the codes' type), got BOOL"],
      [text([scaleT, { ...zpT, dtype: 'I16', shape: [1] }]), "MALFORMED_FILE: tensors 'scale' [2] and 'zero_point' [1] must have one shape"],
      [text([scaleT, { ...zpT, dtype: 'I8' }]), "INVALID_PARAMS: tensor 'zero_point' is I8, but uint4 codes are U8"],
      [text([{ ...scaleT, shape: [1, 2] }, { ...zpT, shape: [1, 2] }]), 'INVALID_PARAMS: the tensors have shape [1, 2], but param_shape is [2]'],
      [text([scaleT, { ...zpT, data: Uint8Array.of(0, 16) }]), 'INVALID_PARAMS: params.zero_point[1]: expected an integer in [0, 15], got 16'],
      [text([{ ...scaleT, data: new Uint8Array(8) }, zpT]), 'INVALID_PARAMS: params.scale[0]: expected a positive finite number, got 0; params.scale[1]: expected a positive finite number, got 0'],
      [text([scaleT, zpT], { ...metadata, param_shape: '[3]' }), 'INVALID_PARAMS: params.scale: expected 3 values (the product of param_shape [3]), got 2; params.zero_point: expected 3 values (the product of param_shape [3]), got 2'],
      [text([scaleT, zpT], { ...metadata, bits: 'four' }), 'INVALID_PARAMS: params.bits: expected an integer, got "four"'],
      [text([scaleT, zpT], { ...metadata, axis: '0.5' }), 'INVALID_PARAMS: params.axis: expected an integer or null, got 0.5'],
      [text([scaleT, zpT], { ...metadata, signed: 'yes' }), 'INVALID_PARAMS: params.signed: expected true or false, got "yes"'],
      [text([scaleT, zpT], { ...metadata, dtype: 'int8' }), 'INVALID_PARAMS: params.bits: dtype int8 has 8 bits, got 4; params.signed: dtype int8 is signed, got signed: false; params.qmin: expected -128 for int8, got 0 (and 1 more)'],
      [text([scaleT, zpT], { ...metadata, format: 'pt' }), `INVALID_PARAMS: params.format: expected 'quantkit.params', got "pt"`],
      [text([scaleT, zpT], { ...metadata, version: '2' }), 'INVALID_PARAMS: params.version: unsupported params version 2 (this quantkit reads 1)'],
      [text([scaleT, zpT], {}), `INVALID_PARAMS: params.format: expected 'quantkit.params', got nothing (the field is missing)`],
      [text([scaleT, zpT], { ...metadata, extra: '1', other: '' }), /^INVALID_PARAMS: __metadata__ has unknown key\(s\) "extra", "other" \(known: format, version, dtype/.source],
      [text([scaleT, zpT], { ...metadata, packed: 'true' }), 'INVALID_PARAMS: packed codes need "tensor_shape", an array of non-negative integers, got nothing (the field is missing)'],
      [text([scaleT, zpT], { ...metadata, packed: '1', tensor_shape: '[2]' }), 'INVALID_PARAMS: "packed" must be true or false, got 1'],
    ];
    for (const [got, want] of cases) {
      if (want.startsWith('^')) expect(got).toMatch(new RegExp(want));
      else if (want.endsWith(': ')) expect(got.startsWith(want), got).toBe(true);
      else expect(got).toBe(want);
      expect(got).not.toContain('\n');
    }
  });

  it('refuses a __proto__ metadata key rather than reading it as the object\'s prototype', () => {
    const meta: Record<string, string> = Object.fromEntries([...Object.entries(metadata), ['__proto__', '{"dtype":"int8"}']]);
    expect(text([scaleT, zpT], meta)).toMatch(/^INVALID_PARAMS: __metadata__ has unknown key\(s\) "__proto__"/);
  });
});
