import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { createWasmArena } from '../../kernels/wasm-arena.js';
import { isWasmArray } from '../../kernels/wasm-memory.js';
import { getHistogramKernel } from './get-histogram-kernel.js';
import { referenceHistogramKernel } from './histogram-kernel.js';
import { histogramWasmAvailable, wasmHistogramKernel } from './histogram-wasm.js';

// Beyond vitest's 5 s default on a 2-core machine: this file bins up to 2^20 bins and long arrays against the scalar reference kernel.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

function both(x: Float32Array, lo: number, hi: number, bins: number) {
  const ref = new Float64Array(bins);
  const simd = new Float64Array(bins);
  referenceHistogramKernel.histogram(x, lo, hi, ref);
  wasmHistogramKernel.histogram(x, lo, hi, simd);
  return { ref: Array.from(ref), simd: Array.from(simd) };
}

describe('the WebAssembly SIMD histogram kernel', () => {
  it('is available here and is what the observers use', () => {
    expect(histogramWasmAvailable()).toBe(true);
    expect(getHistogramKernel()).toBe(wasmHistogramKernel);
  });

  it('equals the reference bit for bit on arbitrary data, spans and bin counts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 5000 }),
        (values, bins) => {
          const x = Float32Array.from(values);
          let lo = Infinity;
          let hi = -Infinity;
          for (const v of x) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
          }
          const { ref, simd } = both(x, lo, hi, bins);
          expect(simd).toEqual(ref);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('equals the reference across chunk boundaries, on bin edges and at the float32 extremes', () => {
    const n = 16384 * 2 + 13;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = ((i * 7919) % 1000) / 10; // many values exactly on bin edges
    expect(both(x, 0, 99.9000015258789, 999).simd).toEqual(both(x, 0, 99.9000015258789, 999).ref);
    const extreme = Float32Array.from([-3.4028234663852886e38, 0, 3.4028234663852886e38, 1, -1, 2, 3, 4, 5]);
    const r = both(extreme, -3.4028234663852886e38, 3.4028234663852886e38, 16);
    expect(r.simd).toEqual(r.ref);
    expect(r.simd[15]).toBe(1);
    // A span below float32 resolution: the scale overflows and 0 · Infinity is NaN, counted in bin 0.
    const tiny = Float32Array.from([0, -1.401298464324817e-45, 0, 0, 0, 0, 0, 0, -1.401298464324817e-45]);
    const t = both(tiny, -1.401298464324817e-45, 0, 2);
    expect(t.simd).toEqual(t.ref);
    expect(t.ref).toEqual([2, 7]);
  });

  it('adds each bin\u2019s total to fractional (re-binned) counts exactly as the reference does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -100, max: 100 }), { minLength: 1, maxLength: 400 }),
        fc.array(fc.double({ noNaN: true, min: 0, max: 1e6 }), { minLength: 1, maxLength: 64 }),
        (values, start) => {
          const x = Float32Array.from(values);
          const lo = Math.min(...x);
          const hi = Math.max(...x);
          const ref = Float64Array.from(start);
          const simd = Float64Array.from(start);
          referenceHistogramKernel.histogram(x, lo, hi, ref);
          wasmHistogramKernel.histogram(x, lo, hi, simd);
          expect(Array.from(simd)).toEqual(Array.from(ref));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('adds to the counts and handles a degenerate span', () => {
    const counts = Float64Array.from([2, 0]);
    wasmHistogramKernel.histogram(Float32Array.from([1, 1, 1]), 1, 1, counts);
    expect(Array.from(counts)).toEqual([5, 0]);
  });

  it('bins an array that lives in WebAssembly memory in place, equal to the reference, touching nothing else', () => {
    const arena = createWasmArena();
    try {
      fc.assert(
        fc.property(
          fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e4, max: 1e4 }), { minLength: 1, maxLength: 200 }),
          fc.integer({ min: 1, max: 3000 }),
          (values, bins) => {
            arena.reset();
            const before = arena.float32(3).fill(7);
            const x = arena.float32(values.length);
            const after = arena.float32(3).fill(9);
            x.set(values);
            expect(isWasmArray(x)).toBe(arena.inWasmMemory);
            let lo = Infinity;
            let hi = -Infinity;
            for (const v of x) {
              lo = Math.min(lo, v);
              hi = Math.max(hi, v);
            }
            const ref = new Float64Array(bins).fill(1);
            const simd = new Float64Array(bins).fill(1);
            referenceHistogramKernel.histogram(x, lo, hi, ref);
            wasmHistogramKernel.histogram(x, lo, hi, simd);
            expect(Array.from(simd)).toEqual(Array.from(ref));
            expect(Array.from(x)).toEqual(Array.from(Float32Array.from(values)));
            expect([...before, ...after]).toEqual([7, 7, 7, 9, 9, 9]);
          },
        ),
        { numRuns: 150 },
      );
    } finally {
      arena.free();
    }
  });

  it('equals the reference with 1 and 2^20 bins, and with values at the ends of the span in the vector body', () => {
    const x = Float32Array.from({ length: 64 + 5 }, (_, i) => (i % 3 === 0 ? -2 : i % 3 === 1 ? 3 : Math.fround(-2 + (i * 5) / 69)));
    for (const bins of [1, 2, 1 << 20]) {
      const r = both(x, -2, 3, bins);
      expect(r.simd).toEqual(r.ref);
      expect(r.ref[bins - 1]).toBeGreaterThanOrEqual(23);
    }
    // t = Infinity in every lane of a vector (offsets overflow float32) and NaN (0 · Infinity).
    const huge = Float32Array.from({ length: 32 }, (_, i) => (i % 2 ? 3.4028234663852886e38 : -3.4028234663852886e38));
    const h = both(huge, -3.4028234663852886e38, 3.4028234663852886e38, 8);
    expect(h.simd).toEqual(h.ref);
    expect([h.ref[0], h.ref[7]]).toEqual([16, 16]);
    const tiny = new Float32Array(48).fill(-1.401298464324817e-45);
    tiny.fill(0, 20);
    const t = both(tiny, -1.401298464324817e-45, 0, 4);
    expect(t.simd).toEqual(t.ref);
    expect(t.ref).toEqual([20, 0, 0, 28]);
  });
});
