import { valueHistogram, type ValueHistogram } from '../engine/value-histogram.js';

/** Counts of equal-width bins over [lo, hi] (edges has bins + 1 entries; the last bin is closed). */
export type Histogram = ValueHistogram;

/**
 * A histogram of the finite values of x, the engine's valueHistogram (the one the service's
 * calibration report uses, binned by the core's histogram kernel), so the page bins as the
 * observers and the service do. The span is [min(x), max(x)] widened to include `include`.
 */
export function computeHistogram(x: Float32Array, bins: number, include: readonly number[] = []): Histogram {
  return valueHistogram([x], bins, include);
}
