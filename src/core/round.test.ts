import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FLOAT32_EPS, roundHalfEven } from './round.js';

describe('roundHalfEven', () => {
  it('rounds ties to the even neighbour', () => {
    const ties: Array<[number, number]> = [[0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [4.5, 4], [127.5, 128], [254.5, 254], [-0.5, -0], [-1.5, -2], [-2.5, -2], [-3.5, -4], [-127.5, -128], [-128.5, -128]];
    for (const [v, want] of ties) expect(Object.is(roundHalfEven(v), want), `${v} -> ${roundHalfEven(v)}`).toBe(true);
  });

  it('rounds non-ties to the nearest integer, negatives included', () => {
    const cases: Array<[number, number]> = [[0.49999997, 0], [0.50000006, 1], [1.4, 1], [1.6, 2], [-1.4, -1], [-1.6, -2], [-2.50001, -3], [2.49999, 2], [7, 7], [-7, -7]];
    for (const [v, want] of cases) expect(roundHalfEven(v)).toBe(want);
  });

  it('keeps the sign of zero as numpy.rint does', () => {
    expect(Object.is(roundHalfEven(-0), -0)).toBe(true);
    expect(Object.is(roundHalfEven(0), 0)).toBe(true);
    expect(Object.is(roundHalfEven(-0.25), -0)).toBe(true);
    expect(Object.is(roundHalfEven(-0.5), -0)).toBe(true);
  });

  it('is exact for large values, where every float is already an integer or a half', () => {
    expect(roundHalfEven(2 ** 23 + 0.5)).toBe(2 ** 23);
    expect(roundHalfEven(2 ** 23 + 1.5)).toBe(2 ** 23 + 2);
    expect(roundHalfEven(-(2 ** 23) - 0.5)).toBe(-(2 ** 23));
    expect(roundHalfEven(2 ** 52 - 0.5)).toBe(2 ** 52);
    expect(roundHalfEven(2 ** 52 - 1.5)).toBe(2 ** 52 - 2);
    expect(roundHalfEven(2 ** 60)).toBe(2 ** 60);
    expect(roundHalfEven(3e38)).toBe(3e38);
  });

  it('passes non-finite values through', () => {
    expect(roundHalfEven(Infinity)).toBe(Infinity);
    expect(roundHalfEven(-Infinity)).toBe(-Infinity);
    expect(roundHalfEven(NaN)).toBeNaN();
  });

  it('agrees with a definition by floor for random float32 values and halves', () => {
    const naive = (v: number): number => {
      const f = Math.floor(v);
      const d = v - f;
      if (d < 0.5) return f;
      if (d > 0.5) return f + 1;
      return f % 2 === 0 ? f : f + 1;
    };
    const halves = fc.integer({ min: -(2 ** 30), max: 2 ** 30 }).map((k) => k + 0.5);
    const floats = fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 });
    fc.assert(
      fc.property(fc.oneof(halves, floats), (v) => {
        expect(roundHalfEven(v) === naive(v)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('FLOAT32_EPS is float32 machine epsilon', () => {
    expect(FLOAT32_EPS).toBe(2 ** -23);
    expect(Math.fround(1 + FLOAT32_EPS)).toBeGreaterThan(1);
    expect(Math.fround(1 + FLOAT32_EPS / 2)).toBe(1);
  });
});
