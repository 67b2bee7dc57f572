import { QuantError } from '../core/errors.js';
import { getHistogramKernel } from '../core/observers/histogram/get-histogram-kernel.js';

/** Counts of equal-width bins over [lo, hi] (edges has bins + 1 entries; the last bin is closed). */
export interface ValueHistogram {
  readonly lo: number;
  readonly hi: number;
  readonly edges: Float64Array;
  readonly counts: Float64Array;
  /** NaN and ±Infinity values left out of the counts. */
  readonly nonFinite: number;
}

/**
 * One histogram of the finite values of all `arrays`, binned by the core's histogram kernel (the
 * observers' WebAssembly SIMD or reference kernel), so the engine's calibration report, the
 * service and the dashboard bin as the observers do. The span is [min, max] of the values widened
 * to include `include` (a quantization range reaching past the data still shows its ends), then
 * widened to float32 bounds, since the kernel bins in float32:
 *
 *   w = (hi − lo) / bins,  bin i holds lo + i·w ≤ x < lo + (i+1)·w  (hi in the last bin)
 *
 * Example: valueHistogram([Float32Array.of(0, 0.5, 1, 1.5, 2, 2, 4)], 4) has edges [0, 1, 2, 3, 4]
 * and counts [2, 2, 2, 1]. With no finite value it is one empty bin over [0, 0].
 */
export function valueHistogram(arrays: readonly Float32Array[], bins: number, include: readonly number[] = []): ValueHistogram {
  if (!Number.isInteger(bins) || bins < 1 || bins > 1 << 20) {
    throw new QuantError('INVALID_ARGUMENT', `bins must be a positive integer up to ${1 << 20}, got ${String(bins)}`);
  }
  let lo = Infinity;
  let hi = -Infinity;
  let nonFinite = 0;
  const nonFiniteIn = arrays.map((x) => {
    let n = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (v !== v || v === Infinity || v === -Infinity) n++;
      else {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    nonFinite += n;
    return n;
  });
  for (const v of include) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo > hi) return { lo: 0, hi: 0, edges: new Float64Array([0, 0]), counts: new Float64Array(1), nonFinite };
  const counts = new Float64Array(bins);
  // A float64 bound rounded inward would leave the extreme values outside the kernel's span.
  const lo32 = Math.fround(lo) > lo ? nextDown32(lo) : Math.fround(lo);
  const hi32 = Math.fround(hi) < hi ? nextUp32(hi) : Math.fround(hi);
  const kernel = getHistogramKernel();
  arrays.forEach((x, k) => kernel.histogram(nonFiniteIn[k] > 0 ? finiteOnly(x, nonFiniteIn[k]) : x, lo32, hi32, counts));
  const edges = new Float64Array(bins + 1);
  for (let i = 0; i <= bins; i++) edges[i] = i === bins ? hi32 : lo32 + ((hi32 - lo32) * i) / bins;
  return { lo: lo32, hi: hi32, edges, counts, nonFinite };
}

/** The kernel requires lo <= v <= hi: non-finite values are left out, as the observers leave them out. */
function finiteOnly(x: Float32Array, nonFinite: number): Float32Array {
  const out = new Float32Array(x.length - nonFinite);
  let k = 0;
  for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i])) out[k++] = x[i];
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function nextUp32(v: number): number {
  f32[0] = v;
  if (f32[0] >= v) return f32[0];
  if (f32[0] === 0) return 2 ** -149;
  u32[0] += f32[0] > 0 ? 1 : -1;
  return f32[0];
}

function nextDown32(v: number): number {
  f32[0] = v;
  if (f32[0] <= v) return f32[0];
  if (f32[0] === 0) return -(2 ** -149);
  u32[0] += f32[0] > 0 ? -1 : 1;
  return f32[0];
}
