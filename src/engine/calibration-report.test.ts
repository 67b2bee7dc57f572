import { describe, expect, it } from 'vitest';
import { qparamsFromRange } from '../core/quantize.js';
import { createRng } from '../core/random.js';
import { DATA_HISTOGRAM_BINS, ERROR_HISTOGRAM_BINS, measureCalibration } from './calibration-report.js';
import { Quantizer } from './quantizer.js';

function normal(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
}

const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);

describe('measureCalibration', () => {
  it('the data histogram counts every finite value once, over the data and the included range', () => {
    const data = Float32Array.of(-1, 0, 0.25, 2, 3);
    const params = qparamsFromRange(Float32Array.of(-1), Float32Array.of(3), [5], { dtype: 'int8' });
    const m = measureCalibration([{ data, shape: [5] }], params, { include: [-4, 3] });
    expect(m.dataHistogram.of).toBe('data');
    expect(m.dataHistogram.counts.length).toBe(DATA_HISTOGRAM_BINS);
    expect(m.dataHistogram.edges.length).toBe(DATA_HISTOGRAM_BINS + 1);
    expect([m.dataHistogram.edges[0], m.dataHistogram.edges.at(-1)]).toEqual([-4, 3]);
    expect(sum(m.dataHistogram.counts)).toBe(5);
    // 3 is the span's end: the last bin is closed.
    expect(m.dataHistogram.counts.at(-1)).toBe(1);
    expect(m.dataHistogram.nonFinite).toBe(0);
  });

  it('the error histogram bins x − x̂ of the finite values over their extremes', () => {
    const data = normal(300, 5);
    const params = qparamsFromRange(Float32Array.of(-1), Float32Array.of(1), [300], { dtype: 'int4' });
    const m = measureCalibration([{ data, shape: [300] }], params);
    expect(m.histogram.of).toBe('error');
    expect(m.histogram.counts.length).toBe(ERROR_HISTOGRAM_BINS);
    expect(sum(m.histogram.counts)).toBe(300);
    // Clipping by [-1, 1] makes errors beyond a step: the histogram reaches them.
    expect(m.histogram.edges.at(-1)!).toBeGreaterThan(0.5);
  });
});

describe('the calibration report of a Quantizer', () => {
  it('shows the clipped tails: the data histogram spans the observed range, past the percentile range', () => {
    const batches = [normal(4000, 1), normal(4000, 2)].map((d) => ({ data: d, shape: [40, 100] }));
    batches[0].data[17] = 9;
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', usePercentile: true, minPercentile: 1, maxPercentile: 99 });
    const r = q.calibrate(batches);
    const { edges, counts } = r.dataHistogram;
    expect(edges[0]).toBeLessThanOrEqual(r.observedMin);
    expect(edges.at(-1)).toBeGreaterThanOrEqual(9);
    expect(r.max).toBeLessThan(3);
    expect(sum(counts)).toBe(8000);
    // Values in bins wholly beyond the range were clipped; together they are at most the clipped count.
    let outside = 0;
    for (let i = 0; i < counts.length; i++) if (edges[i] > r.max || edges[i + 1] < r.min) outside += counts[i];
    expect(outside).toBeGreaterThan(0);
    expect(outside).toBeLessThanOrEqual(r.clippedFraction * r.count);
    expect(counts.at(-1)).toBe(1);
  });

  it('counts NaN apart when the config lets it through', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', symmetric: true, errorOnNan: false });
    const r = q.calibrate([[[0.5, 2, NaN, 1]]]);
    expect([r.dataHistogram.edges[0], r.dataHistogram.edges.at(-1)]).toEqual([Math.min(0.5, r.min), 2]);
    expect(sum(r.dataHistogram.counts)).toBe(3);
    expect(r.dataHistogram.nonFinite).toBe(1);
  });

  it('per-channel: one data histogram over every channel', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', perChannel: true, channelDim: 1 });
    const r = q.calibrate([[[1, -40], [2, 80]], [[-1, 20], [3, 40]]]);
    expect(r.scales.length).toBe(2);
    expect([r.dataHistogram.edges[0], r.dataHistogram.edges.at(-1)]).toEqual([-40, 80]);
    expect(sum(r.dataHistogram.counts)).toBe(8);
  });
});
