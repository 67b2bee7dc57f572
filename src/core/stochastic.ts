import type { CodeArray } from './dtypes.js';
import type { BlockLayout } from './layout.js';
import { paramIndex } from './layout.js';
import type { Rng } from './random.js';

const f32 = Math.fround;

/**
 * Stochastic rounding: q = clamp(floor(x / scale + u) + zeroPoint), u ~ U[0, 1) from a seeded
 * generator, so E[q] = x / scale + zeroPoint inside the range (unbiased), unlike round-to-nearest.
 * Same chunk contract as the kernels (x[0] is element `start`).
 */
export function quantizeStochastic(
  x: Float32Array,
  layout: BlockLayout,
  scale: Float32Array,
  zeroPoint: Int32Array,
  qmin: number,
  qmax: number,
  out: CodeArray,
  rng: Rng,
  start = 0,
): void {
  for (let j = 0; j < x.length; j++) {
    const p = paramIndex(layout, start + j);
    const v = Math.floor(f32(x[j] / scale[p]) + rng()) + zeroPoint[p];
    out[j] = v < qmin ? qmin : v > qmax ? qmax : v;
  }
}
