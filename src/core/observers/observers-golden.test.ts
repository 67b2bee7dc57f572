import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fakeQuantize } from '../quantize.js';
import type { QParams } from '../qparams.js';
import { GOLDEN_NAMES, GOLDEN_SHAPE, goldenData } from '../../../test/fixtures/observers/golden-data.js';
import { createObserver } from './builtin-observers.js';
import { EntropyObserver } from './entropy-observer.js';
import { entropyThreshold } from './histogram/entropy-threshold.js';
import { HistogramObserver } from './histogram-observer.js';
import { mseRangeSearch } from './mse-range-search.js';
import { OutlierObserver } from './outlier-observer.js';
import { PercentileObserver } from './percentile-observer.js';

interface OutlierGolden { mean: number; std: number; min: number; max: number }
interface SetGolden {
  checksum: number;
  head: number[];
  min: number;
  max: number;
  movingAverage: { c: number; batches: number; range: [number, number] };
  percentile: { bins: number; binWidth: number; p: number[]; values: number[] };
  outlier: OutlierGolden;
  histogram: { bins: number; lo: number; hi: number; counts: number[] };
  mse: Record<string, { startBin: number; endBin: number; min: number; max: number }>;
  entropy: { bins: number; T: number; counts: number[] } & Record<string, { startIndex: number; endIndex: number; min: number; max: number }>;
  perChannel0: PerChannelGolden;
  'perChannel-1': PerChannelGolden;
}
interface PerChannelGolden { min: number[]; max: number[]; p99: number[]; binWidth: number[]; outlier: OutlierGolden[] }

const golden = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/observers/golden.json', import.meta.url), 'utf8'),
) as { sets: Record<string, SetGolden> };
const f32 = Math.fround;
const flat = [GOLDEN_SHAPE[0] * GOLDEN_SHAPE[1] * GOLDEN_SHAPE[2]];

function batches(x: Float32Array, k: number): Float32Array[] {
  const n = x.length / k;
  return Array.from({ length: k }, (_, i) => x.subarray(i * n, (i + 1) * n));
}

function mse(x: Float32Array, params: QParams): number {
  const y = fakeQuantize(x, [x.length], { params }).values;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] - y[i]) ** 2;
  return s / x.length;
}

describe.each(GOLDEN_NAMES)('observers on %s data against the numpy reference', (name) => {
  const g = golden.sets[name];
  const x = goldenData(name);

  it('regenerates the same data as the reference script', () => {
    let sum = 0;
    for (const v of x) sum += v;
    expect(sum).toBe(g.checksum);
    expect(Array.from(x.subarray(0, 4))).toEqual(g.head);
  });

  it('minmax is exact, over one batch or four', () => {
    const one = createObserver('minmax');
    one.update(x, flat);
    const four = createObserver('minmax');
    for (const b of batches(x, 4)) four.update(b, [b.length]);
    for (const o of [one, four]) {
      const r = o.range({ dtype: 'int8' });
      expect([r.min[0], r.max[0]]).toEqual([g.min, g.max]);
    }
  });

  it('moving average is exact in float32', () => {
    const o = createObserver('moving-average', { averagingConstant: g.movingAverage.c });
    for (const b of batches(x, g.movingAverage.batches)) o.update(b, [b.length]);
    const r = o.range({ dtype: 'int8' });
    expect([r.min[0], r.max[0]]).toEqual(g.movingAverage.range);
  });

  it('percentiles are within one histogram bin of np.percentile', () => {
    const { p, values, binWidth } = g.percentile;
    for (let i = 0; i + 1 < p.length; i += 2) {
      const o = new PercentileObserver({ minPercentile: p[i], maxPercentile: p[i + 1] });
      o.update(x, flat);
      const r = o.range({ dtype: 'int8' });
      expect(Math.abs(r.min[0] - values[i])).toBeLessThanOrEqual(binWidth);
      expect(Math.abs(r.max[0] - values[i + 1])).toBeLessThanOrEqual(binWidth);
    }
  });

  it('bins exactly as the reference binning rule', () => {
    const o = new HistogramObserver();
    o.update(x, flat);
    const [h] = o.histograms();
    expect([h.lo, h.hi]).toEqual([g.histogram.lo, g.histogram.hi]);
    expect(Array.from(h.counts)).toEqual(g.histogram.counts);
    const e = new EntropyObserver();
    e.update(x, flat);
    const [s] = e.histograms();
    expect([s.lo, s.hi]).toEqual([-g.entropy.T, g.entropy.T]);
    expect(Array.from(s.counts)).toEqual(g.entropy.counts);
  });

  it.each([8, 4])('the MSE search equals the port of PyTorch’s for %i bits', (bits) => {
    const want = g.mse[String(bits)];
    const got = mseRangeSearch(Float64Array.from(g.histogram.counts), g.histogram.lo, g.histogram.hi, 2 ** bits);
    expect([got.startBin, got.endBin]).toEqual([want.startBin, want.endBin]);
    expect(got.min).toBeCloseTo(want.min, 12);
    expect(got.max).toBeCloseTo(want.max, 12);
    const o = new HistogramObserver();
    o.update(x, flat);
    const r = o.range({ dtype: bits === 8 ? 'int8' : 'int4' });
    expect([r.min[0], r.max[0]]).toEqual([f32(want.min), f32(want.max)]);
  });

  it.each([8, 6])('the entropy threshold equals the port of ONNX Runtime’s for %i bits', (bits) => {
    const want = g.entropy[String(bits)];
    const counts = Float64Array.from(g.entropy.counts);
    const got = entropyThreshold(counts, -g.entropy.T, g.entropy.T, g.min, g.max, 2 ** (bits - 1));
    expect([got.min, got.max]).toEqual([want.min, want.max]);
    const o = createObserver('entropy');
    o.update(x, flat);
    const r = o.range({ dtype: bits === 8 ? 'uint8' : 'int6' });
    expect([r.min[0], r.max[0]]).toEqual([f32(want.min), f32(want.max)]);
  });

  it('outlier clipping is mean ± k·std within the observed range', () => {
    const o = new OutlierObserver({ outlierThreshold: 3 });
    for (const b of batches(x, 4)) o.update(b, [b.length]);
    const s = o.stats();
    expect(s.mean[0]).toBeCloseTo(g.outlier.mean, 12);
    expect(s.std[0]).toBeCloseTo(g.outlier.std, 12);
    const r = o.range({ dtype: 'int8' });
    expect(r.min[0]).toBe(f32(g.outlier.min));
    expect(r.max[0]).toBe(f32(g.outlier.max));
  });

  it.each([0, -1])('per channel along axis %i on 3-D data', (axis) => {
    const pc = g[axis === 0 ? 'perChannel0' : 'perChannel-1'];
    const shape = [...GOLDEN_SHAPE];
    const mm = createObserver('minmax', { axis });
    mm.update(x, shape);
    const r = mm.range({ dtype: 'int8' });
    expect(Array.from(r.min)).toEqual(pc.min);
    expect(Array.from(r.max)).toEqual(pc.max);

    const pct = createObserver('percentile', { axis, minPercentile: 0, maxPercentile: 99 });
    pct.update(x, shape);
    const pr = pct.range({ dtype: 'int8' });
    expect(Array.from(pr.min)).toEqual(pc.min);
    pc.p99.forEach((v, c) => expect(Math.abs(pr.max[c] - v)).toBeLessThanOrEqual(pc.binWidth[c]));

    const out = new OutlierObserver({ axis });
    out.update(x, shape);
    const or = out.range({ dtype: 'int8' });
    pc.outlier.forEach((o, c) => {
      expect(or.min[c]).toBe(f32(o.min));
      expect(or.max[c]).toBe(f32(o.max));
    });
    expect(mm.qparams({ dtype: 'int8' }).paramShape).toEqual([shape.at(axis)]);
  });
});

describe('the MSE-optimal range on heavy-tailed data', () => {
  it('quantizes with lower error than plain minmax', () => {
    const x = goldenData('heavy');
    for (const dtype of ['int8', 'int4'] as const) {
      const h = createObserver('histogram');
      const m = createObserver('minmax');
      h.update(x, flat);
      m.update(x, flat);
      expect(mse(x, h.qparams({ dtype }))).toBeLessThan(mse(x, m.qparams({ dtype })));
    }
  });
});
