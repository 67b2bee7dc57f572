const f32 = Math.fround;

/**
 * The binning hot loop of the histogram observers, one contract with two implementations (the
 * readable reference below and WebAssembly SIMD, histogramInto in src/core/kernels/wasm.ts), held
 * equal bit for bit.
 */
export interface HistogramKernel {
  readonly name: string;
  /**
   * Adds x to counts, a histogram of counts.length equal bins over [lo, hi] (callers ensure
   * lo <= x <= hi): counts[b] += (number of values in bin b), one addition per bin. The bin is computed in float32 so both implementations agree exactly:
   *
   *   scale = f32(bins / (hi − lo)),   bin = clamp(trunc(f32(f32(x − lo) · scale)), 0, bins − 1)
   *
   * so hi falls in the last bin; with hi = lo every value lands in bin 0, and a NaN t (a span so
   * narrow that scale overflows to Infinity, times a zero offset) counts in bin 0.
   */
  histogram(x: Float32Array, lo: number, hi: number, counts: Float64Array): void;
}

/** The float32 factor from a value's offset to its bin (the kernels' `scale`). */
export function binScale(lo: number, hi: number, bins: number): number {
  return f32(bins / (hi - lo));
}

export const referenceHistogramKernel: HistogramKernel = {
  name: 'reference',
  histogram(x, lo, hi, counts) {
    const bins = counts.length;
    const last = bins - 1;
    if (!(hi > lo)) {
      counts[0] += x.length;
      return;
    }
    const scale = binScale(lo, hi, bins);
    const lo32 = f32(lo);
    // Counted apart, then added once per bin: counts may be fractional (re-binned), and adding 1
    // at a time would round differently from adding the bin's total, as the SIMD kernel does.
    const add = new Float64Array(bins);
    for (let i = 0; i < x.length; i++) {
      const t = f32(f32(x[i] - lo32) * scale);
      // Saturating: Infinity (an overflowing offset) to the last bin, and NaN (0 · Infinity, when
      // the span is below float32 resolution so the scale overflows) to bin 0.
      const b = t >= bins ? last : t > 0 ? Math.trunc(t) : 0;
      add[b > last ? last : b]++;
    }
    for (let b = 0; b < bins; b++) counts[b] += add[b];
  },
};
