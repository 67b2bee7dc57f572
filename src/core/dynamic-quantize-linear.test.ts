import { describe, expect, it } from 'vitest';
import { dynamicQuantizeLinear } from './dynamic-quantize-linear.js';
import { expectQuantError } from '../../test/helpers/quant-error.js';

const f32 = Math.fround;

describe('dynamicQuantizeLinear', () => {
  it('matches the ONNX example (mixed signs)', () => {
    const r = dynamicQuantizeLinear(new Float32Array([0, 2, -3, -2.5, 1.34, 0.5]));
    expect(r.scale).toBe(f32(f32(5) / 255));
    expect(r.zeroPoint).toBe(153);
    expect(Array.from(r.y)).toEqual([153, 255, 0, 26, 221, 179]);
  });

  it('widens the range to include 0 for all-negative and all-positive input', () => {
    const neg = dynamicQuantizeLinear(new Float32Array([-1, -4]));
    expect(neg.scale).toBe(f32(4 / 255));
    expect(neg.zeroPoint).toBe(255);
    expect(Array.from(neg.y)).toEqual([191, 0]);
    const pos = dynamicQuantizeLinear(new Float32Array([1, 4]));
    expect(pos.zeroPoint).toBe(0);
    expect(Array.from(pos.y)).toEqual([64, 255]);
  });

  it('rounds the zero point half to even in float32', () => {
    // min = -1, max = 254: scale = 1 exactly and zp = 1; min = -0.5 gives the tie 0.5 → 0.
    expect(dynamicQuantizeLinear(new Float32Array([-1, 254])).zeroPoint).toBe(1);
    const tie = dynamicQuantizeLinear(new Float32Array([-0.5, 254.5]));
    expect(tie.scale).toBe(1);
    expect(tie.zeroPoint).toBe(0);
    expect(Array.from(tie.y)).toEqual([0, 254]);
  });

  it('gives finite parameters for an all-zero input', () => {
    const r = dynamicQuantizeLinear(new Float32Array(4));
    expect(r.scale).toBe(1);
    expect(r.zeroPoint).toBe(0);
    expect(Array.from(r.y)).toEqual([0, 0, 0, 0]);
  });

  it('rejects empty, NaN and infinite input', () => {
    expectQuantError(() => dynamicQuantizeLinear(new Float32Array(0)), 'EMPTY_INPUT');
    expectQuantError(() => dynamicQuantizeLinear(new Float32Array([1, NaN])), 'NAN_INPUT', /index 1/);
    expectQuantError(() => dynamicQuantizeLinear(new Float32Array([1, 2, -Infinity])), 'INF_INPUT', /index 2/);
  });
});
