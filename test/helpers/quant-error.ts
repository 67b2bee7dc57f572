import { expect } from 'vitest';
import { QuantError } from '../../src/core/errors.js';

/** The QuantError fn throws; fails the test if it throws nothing or something else. */
export function quantError(fn: () => unknown): QuantError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(QuantError);
    return e as QuantError;
  }
  throw new Error('expected a QuantError, but nothing was thrown');
}
