import { describe, expect, it } from 'vitest';
import { blockLayout, PER_TENSOR } from '../layout.js';
import { ChannelHistograms } from './channel-histograms.js';

function add(h: ChannelHistograms, values: number[]): void {
  const x = Float32Array.from(values);
  let min = Infinity;
  let max = -Infinity;
  for (const v of x) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  h.add(x, blockLayout([x.length], PER_TENSOR), Float32Array.of(min), Float32Array.of(max));
}

const total = (c: Float64Array) => c.reduce((s, v) => s + v, 0);

describe('ChannelHistograms', () => {
  it('keeps the mass of a single-value span when the span grows (PyTorch would drop it)', () => {
    const h = new ChannelHistograms(4, false);
    add(h, [2, 2, 2]);
    add(h, [0, 4]);
    const [s] = h.snapshot();
    expect([s.lo, s.hi, s.min, s.max]).toEqual([0, 4, 0, 4]);
    expect(Array.from(s.counts)).toEqual([1, 0, 3, 1]);
  });

  it('spans [−T, T] when symmetric', () => {
    const h = new ChannelHistograms(4, true);
    add(h, [-1, 3]);
    const [s] = h.snapshot();
    expect([s.lo, s.hi, s.min, s.max]).toEqual([-3, 3, -1, 3]);
    expect(Array.from(s.counts)).toEqual([0, 1, 0, 1]);
  });

  it('re-bins the old counts into a grown span and bins the new batch directly', () => {
    const h = new ChannelHistograms(4, false);
    add(h, [0, 1, 2, 3, 4]); // bins of width 1 over [0, 4]: [1, 1, 1, 2]
    add(h, [8]); // span [0, 8], width 2: old bins fold in pairs
    const [s] = h.snapshot();
    expect(Array.from(s.counts)).toEqual([2, 3, 0, 1]);
  });

  it('merges another instance into its own span, preserving the total', () => {
    const a = new ChannelHistograms(8, false);
    const b = new ChannelHistograms(8, false);
    add(a, [0, 1, 2, 3]);
    add(b, [-5, 10, 7]);
    a.merge(b);
    const [s] = a.snapshot();
    expect([s.lo, s.hi, s.min, s.max]).toEqual([-5, 10, -5, 10]);
    expect(total(s.counts)).toBeCloseTo(7, 12);
  });
});
