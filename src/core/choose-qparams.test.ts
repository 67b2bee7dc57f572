import { describe, expect, it } from 'vitest';
import { chooseQParams } from './choose-qparams.js';
import type { QuantDtypeName } from './dtypes.js';
import { QUANT_DTYPES } from './dtypes.js';
import { FLOAT32_EPS } from './round.js';

const f32 = Math.fround;

function one(min: number, max: number, dtype: QuantDtypeName, symmetric = false, narrow = false): { scale: number; zeroPoint: number } {
  const r = chooseQParams(new Float32Array([min]), new Float32Array([max]), { dtype: QUANT_DTYPES[dtype], symmetric, narrow });
  return { scale: r.scale[0], zeroPoint: r.zeroPoint[0] };
}

describe('chooseQParams (PyTorch MinMaxObserver, float32)', () => {
  it('asymmetric: scale = (max - min) / (qmax - qmin), zp = qmin - round(min / scale) (TSDoc example)', () => {
    const r = one(-1, 3, 'int8');
    expect(r.scale).toBe(f32(f32(4) / 255));
    expect(r.zeroPoint).toBe(-64);
    expect(one(-1, 3, 'uint8')).toEqual({ scale: f32(f32(4) / 255), zeroPoint: 64 });
    expect(one(-2, 1, 'uint4')).toEqual({ scale: f32(3 / 15), zeroPoint: 10 });
  });

  it('widens the range to contain 0', () => {
    expect(one(2, 5, 'uint8')).toEqual({ scale: f32(5 / 255), zeroPoint: 0 });
    expect(one(-5, -2, 'uint8')).toEqual({ scale: f32(5 / 255), zeroPoint: 255 });
    expect(one(2, 5, 'int8')).toEqual({ scale: f32(5 / 255), zeroPoint: -128 });
  });

  it('symmetric: scale = max(|min|, |max|) / ((qmax - qmin) / 2); zp 0 signed, (qmin + qmax + 1) / 2 unsigned', () => {
    expect(one(-1, 3, 'int8', true)).toEqual({ scale: f32(3 / 127.5), zeroPoint: 0 });
    expect(one(-4, 3, 'int8', true)).toEqual({ scale: f32(4 / 127.5), zeroPoint: 0 });
    expect(one(-1, 3, 'uint8', true)).toEqual({ scale: f32(3 / 127.5), zeroPoint: 128 });
    expect(one(-1, 3, 'uint4', true)).toEqual({ scale: f32(3 / 7.5), zeroPoint: 8 });
    expect(one(-1, 3, 'int8', true, true)).toEqual({ scale: f32(3 / 127), zeroPoint: 0 });
    // Narrow asymmetric: -1 / (4 / 254) = -63.5 is a tie; half to even gives -64, so zp = -127 + 64.
    expect(one(-1, 3, 'int8', false, true)).toEqual({ scale: f32(4 / 254), zeroPoint: -63 });
  });

  it('floors the scale at float32 eps so all-zero and tiny ranges stay finite', () => {
    expect(one(0, 0, 'int8')).toEqual({ scale: FLOAT32_EPS, zeroPoint: -128 });
    expect(one(0, 0, 'int8', true)).toEqual({ scale: FLOAT32_EPS, zeroPoint: 0 });
    expect(one(-1e-30, 1e-30, 'uint8').scale).toBe(FLOAT32_EPS);
    expect(one(-1e-30, 1e-30, 'uint8').zeroPoint).toBe(0);
  });

  it('computes in float32 (the difference and the quotient are rounded)', () => {
    // 0.1 and 0.2 are not exact; float64 arithmetic would give a different last bit.
    const r = one(-0.1, 0.2, 'int8');
    expect(r.scale).toBe(f32(f32(f32(0.2) - f32(-0.1)) / 255));
  });

  it('handles many parameters and writes into caller-provided arrays', () => {
    const out = { scale: new Float32Array(3), zeroPoint: new Int32Array(3) };
    const r = chooseQParams(new Float32Array([-1, 0, -2]), new Float32Array([3, 0, -1]), { dtype: QUANT_DTYPES.uint8, symmetric: false, narrow: false }, out);
    expect(r.scale).toBe(out.scale);
    expect(r.zeroPoint).toBe(out.zeroPoint);
    expect(Array.from(out.zeroPoint)).toEqual([64, 0, 255]);
    expect(out.scale[1]).toBe(FLOAT32_EPS);
  });
});
