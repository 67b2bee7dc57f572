import { QuantError } from './errors.js';
import { getKernels } from './kernels/index.js';
import { blockLayout, PER_TENSOR } from './layout.js';
import { roundHalfEven } from './round.js';

const f32 = Math.fround;

/**
 * ONNX DynamicQuantizeLinear: uint8 codes with parameters computed from x itself, in float32.
 *
 *   scale     = (max(0, max(x)) − min(0, min(x))) / 255
 *   zeroPoint = saturate(round(0 − min(0, min(x)) / scale))
 *   y         = saturate(round(x / scale) + zeroPoint)
 *
 * round is half to even and saturate clamps to [0, 255]. The spec's formula divides 0 by 0 when x
 * is all zeros; like ONNX Runtime this returns scale 1 and zero point 0 then (every code 0).
 * NaN and ±Infinity are errors (they would make the scale NaN or infinite), as is an empty x. A
 * finite range wider than float32 (max − min > 3.4e38) gives scale Infinity, as the formula does.
 * Example: x = [0, 2, -3, -2.5, 1.34, 0.5] → scale = 5/255, zeroPoint = 153, y = [153, 255, 0, 26, 221, 179].
 */
export function dynamicQuantizeLinear(x: Float32Array): { y: Uint8Array; scale: number; zeroPoint: number } {
  if (x.length === 0) throw new QuantError('EMPTY_INPUT', 'DynamicQuantizeLinear needs a non-empty tensor');
  let min = 0;
  let max = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v !== v) throw new QuantError('NAN_INPUT', `input contains NaN at index ${i}`, { details: { index: i } });
    if (v === Infinity || v === -Infinity) {
      throw new QuantError('INF_INPUT', `input contains ${v} at index ${i} (DynamicQuantizeLinear needs finite values)`, { details: { index: i } });
    }
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const scale = max === min ? 1 : f32(f32(max - min) / 255);
  const zp = roundHalfEven(f32(0 - f32(min / scale)));
  const zeroPoint = zp < 0 ? 0 : zp > 255 ? 255 : zp;
  const y = new Uint8Array(x.length);
  getKernels().quantize(x, blockLayout([x.length], PER_TENSOR), new Float32Array([scale]), new Int32Array([zeroPoint]), 0, 255, y);
  return { y, scale, zeroPoint };
}
