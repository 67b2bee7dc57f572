import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Float8Name } from './float8.js';
import { quantError } from '../../test/helpers/quant-error.js';
import {
  defineFloatFormat,
  dequantizeFloat8,
  FLOAT8_FORMATS,
  FLOAT8_NAMES,
  float32ToFloat8,
  float8ToFloat32,
  getFloat8Format,
  quantizeFloat8,
} from './float8.js';

// Tables from scripts/gen-golden.py: every code decoded from its fields, and encodings found by
// searching the sorted representable values (exact fractions), for saturate = 1 and 0.
interface FormatGolden {
  exponentBits: number;
  mantissaBits: number;
  decoded: number[];
  x: number[];
  saturate: number[];
  noSaturate: number[];
}
const golden = JSON.parse(readFileSync(new URL('../../test/fixtures/golden/float8.json', import.meta.url), 'utf8')) as {
  formats: Record<Float8Name, FormatGolden>;
};

const fromBits = (b: number[]): Float32Array => new Float32Array(Uint32Array.from(b).buffer);
const E4M3 = FLOAT8_FORMATS.float8e4m3fn;
const E5M2 = FLOAT8_FORMATS.float8e5m2;

describe('float8 formats', () => {
  it('has the largest finite values of the ONNX Cast table', () => {
    expect(Object.fromEntries(FLOAT8_NAMES.map((n) => [n, FLOAT8_FORMATS[n].maxFinite]))).toEqual({
      float8e4m3fn: 448,
      float8e4m3fnuz: 240,
      float8e5m2: 57344,
      float8e5m2fnuz: 57344,
      float4e2m1: 6,
    });
  });

  it('rejects an unknown format, listing the known ones', () => {
    const e = quantError(() => getFloat8Format('float8e3m4'));
    expect(e.code).toBe('UNKNOWN_DTYPE');
    for (const n of FLOAT8_NAMES) expect(e.message).toContain(n);
  });

  for (const name of FLOAT8_NAMES) {
    describe(name, () => {
      const g = golden.formats[name];
      const format = FLOAT8_FORMATS[name];

      it('decodes every code as the reference does', () => {
        expect(g.exponentBits).toBe(format.exponentBits);
        expect(g.mantissaBits).toBe(format.mantissaBits);
        const want = fromBits(g.decoded);
        for (let code = 0; code < 2 ** format.bits; code++) {
          const got = float8ToFloat32(code, format);
          if (Number.isNaN(want[code])) expect(got, `code ${code}`).toBeNaN();
          else expect(Object.is(got, want[code]), `code ${code}: ${got} vs ${want[code]}`).toBe(true);
        }
      });

      it('encodes with round-to-nearest-even and saturate = 1 as the reference does', () => {
        const xs = fromBits(g.x);
        const got = Array.from(xs, (v) => float32ToFloat8(v, format));
        expect(got).toEqual(g.saturate);
      });

      it('encodes with saturate = 0 as the reference does', () => {
        const xs = fromBits(g.x);
        expect(Array.from(xs, (v) => float32ToFloat8(v, format, false))).toEqual(g.noSaturate);
      });

      it('round-trips every non-NaN code', () => {
        for (let code = 0; code < 2 ** format.bits; code++) {
          const v = float8ToFloat32(code, format);
          if (Number.isNaN(v)) continue;
          // fnuz has no -0: its code 0x80 is NaN, so every value here has one code.
          expect(float32ToFloat8(v, format, false), `code ${code}`).toBe(code);
        }
      });
    });
  }
});

describe('float32ToFloat8 special values', () => {
  it('rounds ties to the even mantissa', () => {
    expect(float8ToFloat32(float32ToFloat8(100, E4M3), E4M3)).toBe(96);
    expect(float8ToFloat32(float32ToFloat8(108, E4M3), E4M3)).toBe(112);
    expect(float8ToFloat32(float32ToFloat8(2.5, FLOAT8_FORMATS.float4e2m1), FLOAT8_FORMATS.float4e2m1)).toBe(2);
  });

  it('saturates out-of-range values and infinities by default', () => {
    expect(float8ToFloat32(float32ToFloat8(1e5, E4M3), E4M3)).toBe(448);
    expect(float8ToFloat32(float32ToFloat8(-Infinity, E4M3), E4M3)).toBe(-448);
    expect(float8ToFloat32(float32ToFloat8(Infinity, E5M2), E5M2)).toBe(57344);
    // 464 is the tie between 448 and 480 (past the range): it goes to the even 448.
    expect(float8ToFloat32(float32ToFloat8(464, E4M3, false), E4M3)).toBe(448);
  });

  it('without saturation overflows to NaN (fn, fnuz) or infinity (e5m2)', () => {
    expect(float8ToFloat32(float32ToFloat8(465, E4M3, false), E4M3)).toBeNaN();
    expect(float8ToFloat32(float32ToFloat8(-1e5, E5M2, false), E5M2)).toBe(-Infinity);
    expect(float8ToFloat32(float32ToFloat8(61440, E5M2, false), E5M2)).toBe(Infinity);
    expect(float8ToFloat32(float32ToFloat8(Infinity, FLOAT8_FORMATS.float8e4m3fnuz), FLOAT8_FORMATS.float8e4m3fnuz)).toBeNaN();
  });

  it('keeps -0 except in fnuz formats and maps NaN to the NaN code', () => {
    expect(float32ToFloat8(-0, E4M3)).toBe(0x80);
    expect(float32ToFloat8(-0, FLOAT8_FORMATS.float8e5m2fnuz)).toBe(0);
    expect(float32ToFloat8(-1e-30, FLOAT8_FORMATS.float8e4m3fnuz)).toBe(0);
    expect(float32ToFloat8(NaN, E4M3)).toBe(0x7f);
    expect(float32ToFloat8(NaN, FLOAT8_FORMATS.float8e4m3fnuz)).toBe(0x80);
    expect(float32ToFloat8(NaN, FLOAT8_FORMATS.float4e2m1)).toBe(0x7);
  });

  it('serves wider formats too (float16 limits)', () => {
    const f16 = defineFloatFormat('float16', 5, 10, 15, 'ieee');
    expect(f16.maxFinite).toBe(65504);
    expect(float32ToFloat8(65504, f16)).toBe(0x7bff);
    expect(float32ToFloat8(65520, f16, false)).toBe(0x7c00);
    expect(float32ToFloat8(65519.99, f16, false)).toBe(0x7bff);
    expect(float32ToFloat8(2 ** -24, f16)).toBe(1);
    expect(float32ToFloat8(2 ** -25, f16)).toBe(0);
    expect(float8ToFloat32(0x3555, f16)).toBe(Math.fround(0.333251953125));
  });
});

describe('quantizeFloat8 / dequantizeFloat8', () => {
  it('divides by the scale in float32 and then converts (ONNX example)', () => {
    const codes = quantizeFloat8(new Float32Array([0, 1, 2, 100000, 200]), [5], { format: 'float8e4m3fn', scale: new Float32Array([2]) });
    expect(Array.from(codes, (c) => float8ToFloat32(c, E4M3))).toEqual([0, 0.5, 1, 448, 96]);
    const back = dequantizeFloat8(codes, [5], { format: 'float8e4m3fn', scale: new Float32Array([2]) });
    expect(Array.from(back)).toEqual([0, 1, 2, 896, 192]);
  });

  it('uses one scale per channel or block and adds the zero point', () => {
    const x = new Float32Array([1, 2, 3, 4, 5, 6]);
    const perAxis = quantizeFloat8(x, [2, 3], { format: 'float8e5m2', scale: new Float32Array([1, 0.5]), granularity: { kind: 'per-axis', axis: 0 } });
    expect(Array.from(perAxis, (c) => float8ToFloat32(c, E5M2))).toEqual([1, 2, 3, 8, 10, 12]);
    const zp = new Uint8Array([float32ToFloat8(1, E5M2), float32ToFloat8(-1, E5M2)]);
    const blocked = quantizeFloat8(x, [6], { format: 'float8e5m2', scale: new Float32Array([1, 2]), zeroPoint: zp, granularity: { kind: 'per-block', axis: 0, blockSize: 4 } });
    expect(Array.from(blocked, (c) => float8ToFloat32(c, E5M2))).toEqual([2, 3, 4, 5, 1.5, 2]);
    const back = dequantizeFloat8(blocked, [6], { format: 'float8e5m2', scale: new Float32Array([1, 2]), zeroPoint: zp, granularity: { kind: 'per-block', axis: 0, blockSize: 4 } });
    expect(Array.from(back)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('honours saturate = false and fills a given output array', () => {
    const out = new Uint8Array(2);
    const codes = quantizeFloat8(new Float32Array([1000, -1]), [2], { format: 'float8e4m3fn', scale: new Float32Array([1]), saturate: false, out });
    expect(codes).toBe(out);
    expect(float8ToFloat32(codes[0], E4M3)).toBeNaN();
    expect(float8ToFloat32(codes[1], E4M3)).toBe(-1);
  });

  it('rejects parameters that do not fit, bad shapes, bad codes and bad output arrays', () => {
    const x = new Float32Array(6);
    expect(quantError(() => quantizeFloat8(x, [2, 3], { format: 'float8e4m3fn', scale: new Float32Array(3), granularity: { kind: 'per-axis', axis: 0 } })).code).toBe('SHAPE_MISMATCH');
    expect(quantError(() => quantizeFloat8(x, [7], { format: 'float8e4m3fn', scale: new Float32Array(1) })).code).toBe('SHAPE_MISMATCH');
    expect(quantError(() => quantizeFloat8(x, [6], { format: 'float8e4m3fn', scale: new Float32Array(1), zeroPoint: new Uint8Array(2) })).code).toBe('SHAPE_MISMATCH');
    expect(quantError(() => quantizeFloat8(x, [6], { format: 'int8' as Float8Name, scale: new Float32Array(1) })).code).toBe('UNKNOWN_DTYPE');
    expect(quantError(() => quantizeFloat8(x, [6], { format: 'float8e4m3fn', scale: new Float32Array(1), out: new Uint8Array(5) })).code).toBe('INVALID_ARGUMENT');
    const e = quantError(() => dequantizeFloat8(new Uint8Array([16]), [1], { format: 'float4e2m1', scale: new Float32Array(1) }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/16.*float4e2m1/);
    expect(quantError(() => dequantizeFloat8(new Uint8Array(1), [1], { format: 'float8e5m2', scale: new Float32Array(1), out: new Float32Array(2) })).code).toBe('INVALID_ARGUMENT');
  });
});
