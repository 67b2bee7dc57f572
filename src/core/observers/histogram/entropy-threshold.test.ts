import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { expectQuantError } from '../../../../test/helpers/quant-error.js';
import { entropyDivergenceBounds } from './entropy-divergence-bounds.js';
import { entropyThreshold, entropyThresholdDirect } from './entropy-threshold.js';

// Beyond vitest's 5 s default on a 2-core machine: this file checks the bounded search against the O(bins^2) direct search on random histograms.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

// The oracle: the direct O(bins²) search entropyThreshold replaced (ONNX Runtime's loop, one
// candidate at a time), kept verbatim so the fast one is held to it bit for bit.
const EPS = 1e-4;

function oracleDivergences(counts: Float64Array, quantizedBins: number): number[] {
  const bins = counts.length;
  const zero = Math.floor(bins / 2);
  const halfQuantized = Math.floor(quantizedBins / 2);
  const prefix = new Float64Array(bins + 1);
  for (let b = 0; b < bins; b++) prefix[b + 1] = prefix[b] + counts[b];
  const width = 2 * zero + 1;
  const p = new Float64Array(width);
  const q = new Float64Array(width);
  const quantized = new Float64Array(quantizedBins);
  const out: number[] = [];
  for (let i = halfQuantized; i <= zero; i++) {
    const start = zero - i;
    const end = Math.min(zero + i + 1, bins);
    const n = end - start;
    for (let j = 0; j < n; j++) p[j] = counts[start + j];
    p[0] += prefix[start];
    p[n - 1] += prefix[bins] - prefix[end];
    const merged = Math.floor(n / quantizedBins);
    for (let j = 0; j < quantizedBins; j++) {
      quantized[j] = Math.trunc(prefix[start + (j + 1) * merged] - prefix[start + j * merged]);
    }
    quantized[quantizedBins - 1] += Math.trunc(prefix[end] - prefix[start + quantizedBins * merged]);
    q.fill(0, 0, n);
    for (let j = 0; j < quantizedBins; j++) {
      let nonzero = 0;
      for (let t = j * merged; t < (j + 1) * merged; t++) if (p[t] !== 0) nonzero++;
      if (nonzero !== 0) q.fill(Math.trunc(quantized[j] / nonzero), j * merged, (j + 1) * merged);
    }
    out.push(oracleKl(p, q, n));
  }
  return out;
}

function oracleThreshold(counts: Float64Array, lo: number, hi: number, min: number, max: number, quantizedBins: number) {
  const bins = counts.length;
  const zero = Math.floor(bins / 2);
  const halfQuantized = Math.floor(quantizedBins / 2);
  const step = (hi - lo) / bins;
  const edge = (k: number) => (k === bins ? hi : Math.fround(lo + k * step));
  if (halfQuantized > zero || !(hi > lo)) return { min, max, divergence: 0 };
  let best = Infinity;
  let bestStart = 0;
  let bestEnd = bins;
  oracleDivergences(counts, quantizedBins).forEach((div, k) => {
    const i = halfQuantized + k;
    if (div < best) {
      best = div;
      bestStart = zero - i;
      bestEnd = Math.min(zero + i + 1, bins);
    }
  });
  let tMin = edge(bestStart);
  let tMax = edge(bestEnd);
  if (tMin < min) tMin = min;
  if (tMax > max) tMax = max;
  return { min: tMin, max: tMax, divergence: best };
}

function oracleKl(p: Float64Array, q: Float64Array, n: number): number {
  const ps = oracleSmoothing(p, n);
  const qs = oracleSmoothing(q, n);
  if (ps === undefined || qs === undefined) return Infinity;
  const sm = (v: number, e: number) => (v === 0 ? EPS : v - e);
  let pSum = 0;
  let qSum = 0;
  for (let j = 0; j < n; j++) {
    pSum += sm(p[j], ps);
    qSum += sm(q[j], qs);
  }
  let kl = 0;
  for (let j = 0; j < n; j++) {
    const pj = sm(p[j], ps) / pSum;
    const qj = sm(q[j], qs) / qSum;
    kl += pj * Math.log(pj / qj);
  }
  return kl;
}

function oracleSmoothing(v: Float64Array, n: number): number | undefined {
  let zeros = 0;
  let smallest = Infinity;
  for (let j = 0; j < n; j++) {
    if (v[j] === 0) zeros++;
    else if (v[j] < smallest) smallest = v[j];
  }
  const nonzeros = n - zeros;
  if (nonzeros === 0) return undefined;
  const eps1 = (EPS * zeros) / nonzeros;
  return smallest - eps1 > 0 ? eps1 : undefined;
}

/** Seeded xorshift in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** Counts of `samples` values, normal with a `tail` share scaled by 20 (heavy-tailed), on [−T, T], T = max|x|. */
function heavyTailedCounts(bins: number, samples: number, tail: number, seed: number): Float64Array {
  const u = rng(seed);
  const x = new Float64Array(samples);
  let T = 0;
  for (let k = 0; k < samples; k++) {
    const v = Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u());
    x[k] = u() < tail ? 20 * v : v;
    T = Math.max(T, Math.abs(x[k]));
  }
  const counts = new Float64Array(bins);
  for (const v of x) counts[Math.min(bins - 1, Math.floor(((v + T) / (2 * T)) * bins))]++;
  return counts;
}

const quantizedBinsArb = fc.constantFrom(1, 2, 3, 4, 7, 8, 16, 128, 255);
const countArb = fc.oneof(
  { weight: 5, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 4 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 100_000 }) },
  // fractional counts, as re-binning a merged histogram gives, down to slivers smoothing cannot spare
  { weight: 1, arbitrary: fc.double({ min: 1e-9, max: 50, noNaN: true }) },
);
const histogramArb = fc.oneof(
  fc.array(countArb, { minLength: 1, maxLength: 300 }).map((a) => Float64Array.from(a)),
  fc
    .record({
      bins: fc.integer({ min: 1, max: 400 }),
      samples: fc.integer({ min: 1, max: 20_000 }),
      tail: fc.constantFrom(0, 0.001, 0.01, 0.1),
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    })
    .map((r) => heavyTailedCounts(r.bins, r.samples, r.tail, r.seed)),
  // a few spikes in a sea of zeros: smoothing takes a large ε₁ from them
  fc
    .record({ bins: fc.integer({ min: 1, max: 300 }), spikes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 3 })), { maxLength: 6 }) })
    .map(({ bins, spikes }) => {
      const c = new Float64Array(bins);
      for (const [at, v] of spikes) c[at % bins] += v;
      return c;
    }),
);

function expectSame(counts: Float64Array, quantizedBins: number, lo = -3, hi = 3, min = -2.5, max = 2.9): void {
  const got = entropyThreshold(counts, lo, hi, min, max, quantizedBins);
  const want = oracleThreshold(counts, lo, hi, min, max, quantizedBins);
  expect(got).toEqual(want);
  expect(Object.is(got.divergence, want.divergence)).toBe(true);
  // The exported direct search (the bench's baseline) is held to the same oracle.
  const direct = entropyThresholdDirect(counts, lo, hi, min, max, quantizedBins);
  expect(direct).toEqual(want);
  expect(Object.is(direct.divergence, want.divergence)).toBe(true);
}

describe('entropyThreshold', () => {
  it('picks the same threshold and divergence, bit for bit, as the direct search on random histograms', () => {
    fc.assert(
      fc.property(histogramArb, quantizedBinsArb, (counts, quantizedBins) => expectSame(counts, quantizedBins)),
      { numRuns: 400 },
    );
  });

  it.each([
    [8, 128],
    [16, 255],
    [128, 8],
    [8, 8],
    [9, 8],
    [2, 2],
    [1, 1],
    [2, 3],
  ])('agrees with the direct search on tiny histograms: %i bins, %i quantized bins', (bins, quantizedBins) => {
    for (let seed = 1; seed <= 40; seed++) {
      const u = rng(seed);
      expectSame(Float64Array.from({ length: bins }, () => (u() < 0.4 ? 0 : Math.floor(u() * 6))), quantizedBins);
    }
  });

  it.each([
    [2048, 128, 0.01],
    [2047, 128, 0.001],
    [2048, 8, 0.1],
  ])('agrees with the direct search on a heavy-tailed %i-bin histogram, %i quantized bins', (bins, quantizedBins, tail) => {
    expectSame(heavyTailedCounts(bins, 200_000, tail, 7), quantizedBins, -8, 8, -7.5, 7.9);
  });

  it('on an exact tie the first (narrowest) candidate wins', () => {
    // For i = 4..7 the slice [32 − i, 33 + i) merges nothing (8 groups of one bin) and its first 8
    // bins cover 28..32, so with the counts there q equals p and KL is exactly 0 four times.
    const counts = new Float64Array(64);
    counts.set([3, 1, 4, 1, 5], 28);
    const want = oracleDivergences(counts, 8);
    expect(want.slice(0, 4)).toEqual([0, 0, 0, 0]);
    const got = entropyThreshold(counts, -1, 1, -1, 1, 8);
    expect(got).toEqual(oracleThreshold(counts, -1, 1, -1, 1, 8));
    expect(got).toEqual({ min: Math.fround(-1 + 28 * (2 / 64)), max: Math.fround(-1 + 37 * (2 / 64)), divergence: 0 });
  });

  it('settles an exact tie by direct evaluation, not by the estimates’ rounding noise', () => {
    // KL is exactly 0 for all four candidates, but the prefix-sum estimates differ by ~1e-16 and
    // rank the last one first; the direct re-check keeps the first, as the direct search does.
    const counts = new Float64Array([0, 0, 0, 0, 0, 0, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(oracleDivergences(counts, 8).slice(0, 4)).toEqual([0, 0, 0, 0]);
    const { lower, upper } = entropyDivergenceBounds(counts, 8);
    const middle = (k: number) => (lower[k] + upper[k]) / 2;
    expect(middle(3)).toBeLessThan(Math.min(middle(0), middle(1), middle(2)));
    expect(entropyThreshold(counts, -1, 1, -1, 1, 8)).toEqual({ min: -0.5, max: 0.625, divergence: 0 });
  });

  it('evaluates directly where the estimate cannot be formed (1/c of a subnormal count overflows)', () => {
    const counts = heavyTailedCounts(256, 5000, 0.01, 5);
    counts[0] = 5e-324;
    const { lower, upper } = entropyDivergenceBounds(counts, 16);
    expect(lower.some((l) => l === -Infinity) && upper.some((u) => u === Infinity)).toBe(true);
    expectSame(counts, 16);
  });

  it('returns the whole span with an infinite divergence when no candidate can be smoothed', () => {
    expectSame(new Float64Array(32), 8);
    expect(entropyThreshold(new Float64Array(32), -1, 1, -0.5, 0.5, 8)).toEqual({ min: -0.5, max: 0.5, divergence: Infinity });
    // A sliver next to zeros cannot give up ε₁: every p fails to smooth.
    const sliver = new Float64Array(32);
    sliver[16] = 1e-9;
    expectSame(sliver, 8);
    expect(entropyThreshold(sliver, -1, 1, -1, 1, 8).divergence).toBe(Infinity);
  });

  it('keeps the early returns: too few bins for the quantized ones, or an empty span', () => {
    expect(entropyThreshold(new Float64Array(10), -1, 1, -0.3, 0.4, 128)).toEqual({ min: -0.3, max: 0.4, divergence: 0 });
    expect(entropyThreshold(new Float64Array([1, 2, 3]), 1, 1, 1, 1, 2)).toEqual({ min: 1, max: 1, divergence: 0 });
    expectSame(new Float64Array(0), 1);
  });

  it('rejects counts that are not a histogram and quantized bins that are not a positive integer', () => {
    const c = new Float64Array(16).fill(1);
    expectQuantError(() => entropyThreshold(c, -1, 1, -1, 1, 0), 'INVALID_ARGUMENT', 'quantizedBins must be an integer ≥ 1, got 0');
    expectQuantError(() => entropyThreshold(c, -1, 1, -1, 1, 2.5), 'INVALID_ARGUMENT', /integer ≥ 1, got 2\.5/);
    for (const bad of [-1, NaN, Infinity]) {
      const counts = c.slice();
      counts[3] = bad;
      expectQuantError(() => entropyThreshold(counts, -1, 1, -1, 1, 2), 'INVALID_ARGUMENT', `histogram counts must be finite and ≥ 0, got ${bad} at bin 3`);
    }
    expectQuantError(() => entropyThreshold(new Float64Array([1e308, 1e308]), -1, 1, -1, 1, 1), 'INVALID_ARGUMENT', /finite sum/);
  });
});

describe('entropyDivergenceBounds', () => {
  it('brackets every candidate’s direct KL, and is infinite exactly where it is', () => {
    fc.assert(
      fc.property(histogramArb, quantizedBinsArb, (counts, quantizedBins) => {
        const want = oracleDivergences(counts, quantizedBins);
        const { lower, upper } = entropyDivergenceBounds(counts, quantizedBins);
        expect(lower.length).toBe(Math.max(0, Math.floor(counts.length / 2) - Math.floor(quantizedBins / 2) + 1));
        want.forEach((kl, k) => {
          if (kl === Infinity) {
            expect([lower[k], upper[k]]).toEqual([Infinity, Infinity]);
          } else {
            expect(lower[k]).toBeLessThanOrEqual(kl);
            expect(upper[k]).toBeGreaterThanOrEqual(kl);
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it('is tight on a realistic histogram, so only the few best candidates are evaluated directly', () => {
    const counts = heavyTailedCounts(2048, 200_000, 0.01, 3);
    const { lower, upper } = entropyDivergenceBounds(counts, 128);
    const finite = Array.from(upper).filter((u) => u < Infinity);
    expect(finite.length).toBe(upper.length);
    let widest = 0;
    for (let k = 0; k < upper.length; k++) widest = Math.max(widest, upper[k] - lower[k]);
    expect(widest).toBeLessThan(1e-7);
    const bestUpper = Math.min(...finite);
    expect(Array.from(lower).filter((l) => l <= bestUpper).length).toBeLessThanOrEqual(3);
  });
});
