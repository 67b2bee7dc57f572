import { describe, expect, it } from 'vitest';
import { computeQParams, quantize } from '../core/quantize.js';
import { IntegerQuantizer } from './integer-quantizer.js';
import { errorText } from '../../test/helpers/quant-error.js';

const f32 = Math.fround;

describe('IntegerQuantizer', () => {
  it('reproduces pychop\'s documented example with the full unsigned range', () => {
    const x = new Float32Array([0.1, -0.2, 0.3, 0.4]);
    const iq = new IntegerQuantizer({ numBits: 8 });
    const p = iq.calibrate(x, [2, 2]);
    expect(p.dtype).toBe('uint8');
    expect(p.scale[0]).toBe(f32(f32(f32(0.4) - f32(-0.2)) / 255));
    expect(p.zeroPoint[0]).toBe(85);
    const q = iq.quantize(x, [2, 2]);
    // 0.1 / scale is 42.5 in reals but just under it in float32, so the code is 85 + 42.
    expect(Array.from(q)).toEqual([127, 0, 213, 255]);
    const dq = iq.dequantize(q, [2, 2]);
    dq.forEach((v, i) => expect(Math.abs(v - x[i])).toBeLessThanOrEqual(p.scale[0] / 2 + 1e-7));
  });

  it('uses 0..2^b - 1 for unsigned codes, not pychop\'s 0..127', () => {
    for (const numBits of [2, 4, 8, 12, 16]) {
      const iq = new IntegerQuantizer({ numBits });
      expect([iq.qmin, iq.qmax]).toEqual([0, 2 ** numBits - 1]);
      const x = new Float32Array([-1, 0.25, 3]);
      iq.calibrate(x);
      const q = iq.quantize(x);
      expect(q[0]).toBe(0);
      expect(q[2]).toBe(2 ** numBits - 1);
    }
  });

  it('rounds the zero point, so 0.0 survives the round trip exactly (pychop left it fractional)', () => {
    // −min / scale = 0.3 / (1.3 / 255) ≈ 58.85: pychop would keep 58.85 and map 0.0 to 58.85 · scale ≠ 0.
    const x = new Float32Array([-0.3, 0, 0.5, 1]);
    const iq = new IntegerQuantizer({ numBits: 8 });
    const p = iq.calibrate(x);
    expect(Number.isInteger(p.zeroPoint[0])).toBe(true);
    expect(p.zeroPoint[0]).toBe(59);
    expect(iq.quantizeDequantize(new Float32Array([0]))[0]).toBe(0);
    expect(iq.dequantize(iq.quantize(new Float32Array([0])))[0]).toBe(0);
  });

  it('stores codes in the width the bit count needs, not int8 at every width', () => {
    const x = new Float32Array([-2, -0.5, 0.7, 2]);
    const cases = [
      { numBits: 4, symmetric: true, ctor: Int8Array, lo: -8, hi: 7 },
      { numBits: 8, symmetric: false, ctor: Uint8Array, lo: 0, hi: 255 },
      { numBits: 8, symmetric: true, ctor: Int8Array, lo: -128, hi: 127 },
      { numBits: 12, symmetric: false, ctor: Uint16Array, lo: 0, hi: 4095 },
      { numBits: 16, symmetric: true, ctor: Int16Array, lo: -32768, hi: 32767 },
    ] as const;
    for (const c of cases) {
      const iq = new IntegerQuantizer({ numBits: c.numBits, symmetric: c.symmetric });
      iq.calibrate(x);
      const q = iq.quantize(new Float32Array([-100, 100]));
      expect(q).toBeInstanceOf(c.ctor);
      // Saturating far outside the range shows both ends are held without wrapping.
      expect(Array.from(q)).toEqual([c.lo, c.hi]);
      const back = iq.dequantize(iq.quantize(x));
      back.forEach((v, i) => expect(Math.abs(v - x[i])).toBeLessThanOrEqual(iq.params!.scale[0]));
    }
  });

  it('is the core\'s symmetric scheme when symmetric', () => {
    const x = new Float32Array([-0.5, 0.2, 1.27]);
    const iq = new IntegerQuantizer({ symmetric: true });
    const p = iq.calibrate(x);
    const core = computeQParams(x, [3], { dtype: 'int8', symmetric: true });
    expect(p.zeroPoint[0]).toBe(0);
    expect(p.scale).toEqual(core.scale);
    expect(Array.from(iq.quantize(x))).toEqual(Array.from(quantize(x, [3], { params: core }).codes));
  });

  it('calibrates per channel along channelDim, negative counting from the end', () => {
    // shape [2, 3]: channel c along axis 1 holds x[0][c], x[1][c].
    const x = new Float32Array([1, -4, 0.5, -1, 2, 10]);
    const iq = new IntegerQuantizer({ perChannel: true, channelDim: 1, symmetric: true });
    const p = iq.calibrate(x, [2, 3]);
    expect(p.paramShape).toEqual([3]);
    const want = computeQParams(x, [2, 3], { dtype: 'int8', symmetric: true, granularity: { kind: 'per-axis', axis: 1 } });
    expect(p.scale).toEqual(want.scale);
    expect(new Set(p.scale).size).toBe(3);
    const neg = new IntegerQuantizer({ perChannel: true, channelDim: -1, symmetric: true });
    expect(neg.calibrate(x, [2, 3]).scale).toEqual(p.scale);
    // Each channel reaches its own extreme code.
    expect(Array.from(iq.quantize(x, [2, 3]))).toEqual(Array.from(quantize(x, [2, 3], { params: want }).codes));
    expect(errorText(() => iq.quantize(new Float32Array(8), [2, 4]))).toMatch(/^SHAPE_MISMATCH/);
  });

  it('replaces its parameters on each calibrate', () => {
    const iq = new IntegerQuantizer();
    const a = iq.calibrate(new Float32Array([0, 1]));
    const b = iq.calibrate(new Float32Array([0, 10]));
    expect(b.scale[0]).toBeGreaterThan(a.scale[0]);
    expect(iq.params).toBe(b);
  });

  it('rejects bad options, out-of-range channelDim, bad data and use before calibrate', () => {
    expect(errorText(() => new IntegerQuantizer({ numBits: 1 }))).toMatch(/^INVALID_CONFIG: numBits must be an integer in 2\.\.16, got 1/);
    expect(errorText(() => new IntegerQuantizer({ numBits: 17 }))).toMatch(/got 17/);
    expect(errorText(() => new IntegerQuantizer({ numBits: 7.5 }))).toMatch(/got 7\.5/);
    expect(errorText(() => new IntegerQuantizer({ channelDim: 0.5 }))).toMatch(/^INVALID_CONFIG: channelDim must be an integer axis, got 0\.5/);
    const pc = new IntegerQuantizer({ perChannel: true, channelDim: 2 });
    expect(errorText(() => pc.calibrate(new Float32Array(6), [2, 3]))).toMatch(/^AXIS_OUT_OF_RANGE: axis 2 is out of range for a tensor of rank 2/);
    expect(errorText(() => new IntegerQuantizer({ perChannel: true, channelDim: -3 }).calibrate(new Float32Array(6), [2, 3]))).toMatch(/^AXIS_OUT_OF_RANGE/);
    const iq = new IntegerQuantizer();
    expect(errorText(() => iq.quantize(new Float32Array(2)))).toMatch(/^NOT_CALIBRATED: quantize needs parameters: call calibrate/);
    expect(errorText(() => iq.dequantize(new Uint8Array(2)))).toMatch(/^NOT_CALIBRATED: dequantize/);
    expect(errorText(() => iq.quantizeDequantize(new Float32Array(2)))).toMatch(/^NOT_CALIBRATED: quantizeDequantize/);
    expect(iq.params).toBeUndefined();
    expect(errorText(() => iq.calibrate(new Float32Array(0)))).toMatch(/^EMPTY_INPUT/);
    expect(errorText(() => iq.calibrate(new Float32Array([1, NaN])))).toMatch(/^NAN_INPUT: .*index 1/);
    expect(iq.params).toBeUndefined();
    iq.calibrate(new Float32Array([0, 1]));
    expect(errorText(() => iq.quantize(new Float32Array([NaN])))).toMatch(/^NAN_INPUT/);
    expect(errorText(() => iq.dequantize(new Int8Array(2)))).toMatch(/^INVALID_ARGUMENT: uint8 codes come in a Uint8Array, got a Int8Array/);
    expect(errorText(() => iq.dequantize(new Uint8Array(3), [2]))).toMatch(/^SHAPE_MISMATCH/);
  });
});
