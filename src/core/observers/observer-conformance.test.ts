import { describe, expect, it } from 'vitest';
import { QuantError } from '../errors.js';
import { qparamsFromRange } from '../quantize.js';
import { goldenData } from '../../../test/fixtures/observers/golden-data.js';
import { OBSERVERS, createObserver } from './builtin-observers.js';
import type { EntropyObserver } from './entropy-observer.js';
import type { Observer } from './observer.js';

// Options that make each registered kind constructible (fixed needs its range); the KL search costs
// O(bins²), so the suite runs it on 512 bins (the golden tests cover the default 2048).
const OPTIONS: Record<string, Record<string, unknown>> = { fixed: { min: -2, max: 3 }, entropy: { bins: 512 } };
const make = (name: string, extra: Record<string, unknown> = {}): Observer =>
  createObserver(name, { ...(OPTIONS[name] ?? {}), ...extra });

const x = goldenData('heavy', 4096);
const quarter = (k: number) => x.subarray(k * 1024, (k + 1) * 1024);
const SHAPE = [4, 16, 64];

function codeOf(f: () => void): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(QuantError);
    return (e as QuantError).code;
  }
  return undefined;
}

/** The largest gap between two histograms' normalised cumulative distributions. */
function maxCdfGap(a: Float64Array, b: Float64Array): number {
  const ta = a.reduce((s, v) => s + v, 0);
  const tb = b.reduce((s, v) => s + v, 0);
  let ca = 0;
  let cb = 0;
  let gap = 0;
  for (let i = 0; i < a.length; i++) {
    ca += a[i] / ta;
    cb += b[i] / tb;
    gap = Math.max(gap, Math.abs(ca - cb));
  }
  return gap;
}

function snapshot(o: Observer) {
  const r = o.range({ dtype: 'int8' });
  return { count: o.count, min: Array.from(r.min), max: Array.from(r.max) };
}

/** Merge tolerance in units of the data span: exact for the running statistics, a few bins for histograms. */
const MERGE_TOLERANCE: Record<string, number> = {
  minmax: 0,
  fixed: 0,
  outlier: 1e-12,
  percentile: 2 / 2048,
  mse: 4 / 2048,
  entropy: 4 / 2048,
};

describe.each(OBSERVERS.keys())('the %s observer', (name) => {
  it('refuses range and qparams before any data', () => {
    const o = make(name);
    expect(o.count).toBe(0);
    expect(codeOf(() => o.range({ dtype: 'int8' }))).toBe('NOT_CALIBRATED');
    expect(codeOf(() => o.qparams({ dtype: 'int8' }))).toBe('NOT_CALIBRATED');
  });

  it('rejects bad batches and leaves its state unchanged', () => {
    const o = make(name);
    o.update(quarter(0), [32, 32]);
    const before = snapshot(o);
    const nan = quarter(1).slice();
    nan[17] = NaN;
    const inf = quarter(1).slice();
    inf[3] = -Infinity;
    expect(codeOf(() => o.update(new Float32Array(0), [0, 32]))).toBe('EMPTY_INPUT');
    expect(codeOf(() => o.update(nan, [32, 32]))).toBe('NAN_INPUT');
    expect(codeOf(() => o.update(inf, [32, 32]))).toBe('INF_INPUT');
    expect(codeOf(() => o.update(quarter(1), [1024]))).toBe('SHAPE_MISMATCH');
    expect(codeOf(() => o.update(quarter(1), [32, 31]))).toBe('SHAPE_MISMATCH');
    expect(snapshot(o)).toEqual(before);
    const pc = make(name, { axis: -1 });
    pc.update(quarter(0), [32, 32]);
    const pcBefore = snapshot(pc);
    expect(codeOf(() => pc.update(quarter(1), [64, 16]))).toBe('SHAPE_MISMATCH');
    expect(codeOf(() => pc.update(quarter(1).subarray(0, 31 * 32), [31, 32]))).toBeUndefined();
    expect(pc.count).toBe(1024 + 31 * 32);
    expect(pcBefore.min.length).toBe(32);
  });

  it('gives qparams through qparamsFromRange of its range', () => {
    const o = make(name);
    o.update(quarter(0), [1024]);
    for (const scheme of [{ dtype: 'int8' as const }, { dtype: 'uint4' as const, symmetric: true }, { dtype: 'int8' as const, narrow: true }]) {
      const r = o.range(scheme);
      const want = qparamsFromRange(r.min, r.max, [1024], { ...scheme, granularity: { kind: 'per-tensor' } });
      expect(o.qparams(scheme)).toEqual(want);
    }
    expect(codeOf(() => o.qparams({ dtype: 'int99' as never }))).toBe('UNKNOWN_DTYPE');
  });

  it('merges two observers into what one over all the batches gives', () => {
    const a = make(name);
    const b = make(name);
    const whole = make(name);
    for (let k = 0; k < 4; k++) {
      (k < 2 ? a : b).update(quarter(k), [1024]);
      whole.update(quarter(k), [1024]);
    }
    a.merge(b);
    expect(a.count).toBe(4096);
    const got = a.range({ dtype: 'int8' });
    const want = whole.range({ dtype: 'int8' });
    if (name === 'moving-average') {
      // The average depends on batch order: merge folds b's range in as one more batch.
      const c = 0.01;
      const ra = make(name);
      ra.update(quarter(0), [1024]);
      ra.update(quarter(1), [1024]);
      const rb = b.range({ dtype: 'int8' });
      const before = ra.range({ dtype: 'int8' });
      ra.merge(b);
      const after = ra.range({ dtype: 'int8' });
      expect(after.max[0]).toBe(Math.fround(before.max[0] + Math.fround(Math.fround(c) * Math.fround(rb.max[0] - before.max[0]))));
      return;
    }
    if (name === 'entropy') {
      // The KL threshold is a discontinuous function of the histogram: re-binned counts can tip it to
      // another candidate, so here the histograms are compared (the exact case is the next test).
      const [hm] = (a as EntropyObserver).histograms();
      const [hw] = (whole as EntropyObserver).histograms();
      expect([hm.lo, hm.hi]).toEqual([hw.lo, hw.hi]);
      expect(maxCdfGap(hm.counts, hw.counts)).toBeLessThan(0.01);
      return;
    }
    const span = want.max[0] - want.min[0];
    const tol = MERGE_TOLERANCE[name] * span;
    expect(Math.abs(got.min[0] - want.min[0])).toBeLessThanOrEqual(tol);
    expect(Math.abs(got.max[0] - want.max[0])).toBeLessThanOrEqual(tol);
  });

  it('merges exactly when every batch shares the span of the first', () => {
    const edges = Float32Array.from([-80, 80]);
    const a = make(name);
    const b = make(name);
    const whole = make(name);
    a.update(edges, [2]);
    b.update(edges, [2]);
    whole.update(edges, [2]);
    for (let k = 0; k < 4; k++) {
      (k < 2 ? a : b).update(quarter(k), [1024]);
      whole.update(quarter(k), [1024]);
    }
    whole.update(edges, [2]);
    a.merge(b);
    if (name === 'moving-average') return;
    const got = a.range({ dtype: 'int8' });
    const want = whole.range({ dtype: 'int8' });
    if (name === 'outlier') {
      expect(got.min[0]).toBeCloseTo(want.min[0], 10);
      expect(got.max[0]).toBeCloseTo(want.max[0], 10);
    } else {
      expect([got.min[0], got.max[0]]).toEqual([want.min[0], want.max[0]]);
    }
  });

  it('adopts the other observer when merged into an empty one, and ignores an empty one', () => {
    const a = make(name);
    const b = make(name);
    b.update(quarter(2), [1024]);
    a.merge(make(name));
    expect(a.count).toBe(0);
    a.merge(b);
    expect(snapshot(a)).toEqual(snapshot(b));
  });

  it('refuses to merge another kind, other options, another channel count or itself', () => {
    const a = make(name, { axis: 0 });
    a.update(quarter(0), [32, 32]);
    const other = name === 'minmax' ? createObserver('outlier') : createObserver('minmax');
    expect(codeOf(() => a.merge(other))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => a.merge(make(name)))).toBe('INVALID_ARGUMENT');
    const c = make(name, { axis: 0 });
    c.update(quarter(1), [16, 64]);
    expect(codeOf(() => a.merge(c))).toBe('SHAPE_MISMATCH');
    expect(codeOf(() => a.merge(a))).toBe('INVALID_ARGUMENT');
    expect(a.count).toBe(1024);
  });

  it('resets to an empty observer', () => {
    const o = make(name);
    o.update(quarter(0), [1024]);
    o.reset();
    expect(o.count).toBe(0);
    expect(codeOf(() => o.range({ dtype: 'int8' }))).toBe('NOT_CALIBRATED');
    o.update(quarter(1), [32, 32]);
    const fresh = make(name);
    fresh.update(quarter(1), [32, 32]);
    expect(snapshot(o)).toEqual(snapshot(fresh));
  });

  it.each([0, 1, -1])('per channel along axis %i equals a per-tensor observer on each channel', (axis) => {
    const o = make(name, { axis });
    o.update(x, SHAPE);
    const a = axis < 0 ? axis + SHAPE.length : axis;
    const channels = SHAPE[a];
    const r = o.range({ dtype: 'int8' });
    expect(r.min.length).toBe(channels);
    const q = o.qparams({ dtype: 'int8' });
    expect(q.paramShape).toEqual([channels]);
    expect(q.granularity).toEqual({ kind: 'per-axis', axis: a });
    const strides = [SHAPE[1] * SHAPE[2], SHAPE[2], 1];
    // First, second and last channel: the KL search costs ~0.1 s per channel.
    for (const c of [0, 1, channels - 1]) {
      const slice: number[] = [];
      for (let i = 0; i < x.length; i++) {
        const idx = Math.floor(i / strides[a]) % SHAPE[a];
        if (idx === c) slice.push(x[i]);
      }
      const single = make(name);
      single.update(Float32Array.from(slice), [slice.length]);
      const s = single.range({ dtype: 'int8' });
      if (name === 'outlier') {
        expect(r.min[c]).toBeCloseTo(s.min[0], 4);
        expect(r.max[c]).toBeCloseTo(s.max[0], 4);
      } else {
        expect([r.min[c], r.max[c]]).toEqual([s.min[0], s.max[0]]);
      }
    }
  });
});
