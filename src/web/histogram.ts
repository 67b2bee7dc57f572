import { QuantError } from '../core/errors.js';
import { getHistogramKernel } from '../core/observers/get-histogram-kernel.js';

/** Counts of equal-width bins over [lo, hi] (edges has bins + 1 entries; the last bin is closed). */
export interface Histogram {
  readonly lo: number;
  readonly hi: number;
  readonly edges: Float64Array;
  readonly counts: Float64Array;
  /** NaN and ±Infinity values left out of the counts. */
  readonly nonFinite: number;
}

/**
 * A histogram of the finite values of x, binned by the core's histogram kernel (WebAssembly SIMD
 * where available, so the page bins as the observers do). The span is [min(x), max(x)] widened to
 * include `include` (a quantization range that reaches past the data still shows its ends).
 * Bin i holds lo + i·w ≤ x < lo + (i+1)·w with w = (hi − lo) / bins, the kernel's float32 rule.
 */
export function computeHistogram(x: Float32Array, bins: number, include: readonly number[] = []): Histogram {
  if (!Number.isInteger(bins) || bins < 1) throw new QuantError('INVALID_ARGUMENT', `bins must be a positive integer, got ${bins}`);
  let lo = Infinity;
  let hi = -Infinity;
  let nonFinite = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v !== v || v === Infinity || v === -Infinity) nonFinite++;
    else {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  for (const v of include) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const counts = new Float64Array(bins);
  if (lo > hi) return { lo: 0, hi: 0, edges: new Float64Array([0, 0]), counts: new Float64Array(1), nonFinite };
  let finite = x;
  if (nonFinite > 0) {
    // The kernel requires lo <= v <= hi: non-finite values are left out, as the observers leave them out.
    finite = new Float32Array(x.length - nonFinite);
    let k = 0;
    for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i])) finite[k++] = x[i];
  }
  // The kernel bins in float32 from float32 bounds; widen to float32 so hi is never rounded below max(x).
  const lo32 = Math.fround(lo) > lo ? nextDown32(lo) : Math.fround(lo);
  const hi32 = Math.fround(hi) < hi ? nextUp32(hi) : Math.fround(hi);
  getHistogramKernel().histogram(finite, lo32, hi32, counts);
  const edges = new Float64Array(bins + 1);
  for (let i = 0; i <= bins; i++) edges[i] = i === bins ? hi32 : lo32 + ((hi32 - lo32) * i) / bins;
  return { lo: lo32, hi: hi32, edges, counts, nonFinite };
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
