import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { QuantError } from '../../core/errors.js';
import { FUZZ } from '../../../test/helpers/fuzz.js';
import { locateNonFinite, unravelIndex } from './non-finite-location.js';

describe('unravelIndex', () => {
  it('is numpy.unravel_index in C order', () => {
    expect(unravelIndex(137, [6, 40])).toEqual([3, 17]);
    expect(unravelIndex(70, [6, 10, 4])).toEqual([1, 7, 2]);
    expect(unravelIndex(0, [])).toEqual([]);
    expect(unravelIndex(23, [2, 3, 4])).toEqual([1, 2, 3]);
  });

  it('ravels back to the flat index, for any shape and index in it', () => {
    const arb = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }).chain((shape) => fc.tuple(fc.constant(shape), fc.nat(shape.reduce((a, d) => a * d, 1) - 1)));
    fc.assert(
      fc.property(arb, ([shape, i]) => {
        const at = unravelIndex(i, shape);
        expect(at.every((v, k) => v >= 0 && v < shape[k]!)).toBe(true);
        expect(at.reduce((flat, v, k) => flat * shape[k]! + v, 0)).toBe(i);
      }),
      FUZZ,
    );
  });
});

describe('locateNonFinite', () => {
  it("restates the library's NaN and Infinity errors at the file's index, keeping the code and the flat index", () => {
    const nan = locateNonFinite('x.npy', [6, 40], new QuantError('NAN_INPUT', 'input contains NaN at index 137', { details: { index: 137 } }));
    expect(nan).toMatchObject({ code: 'NAN_INPUT', message: 'x.npy[3, 17] is NaN (flat index 137)', details: { index: 137, file: 'x.npy', at: [3, 17] } });
    const inf = locateNonFinite('y.npy', [4], new QuantError('INF_INPUT', 'input contains -Infinity at index 2 (allow infinities to saturate them)', { details: { index: 2 } }));
    expect(inf).toMatchObject({ code: 'INF_INPUT', message: 'y.npy[2] is -Infinity (flat index 2): allow infinities to saturate them' });
    // Located once only, and other errors pass through.
    expect(locateNonFinite('z.npy', [6, 40], nan)).toBe(nan);
    const other = new QuantError('MALFORMED_FILE', 'bad');
    expect(locateNonFinite('x.npy', [1], other)).toBe(other);
  });
});
