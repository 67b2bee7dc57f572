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

/**
 * The QuantError fn throws, checked to carry `code` and a one-line message matching `message`
 * (a RegExp, or a string the message must equal): the CLI prints messages as one line, the service
 * as one `detail`, so every error is written to read that way.
 */
export function expectQuantError(fn: () => unknown, code: string, message?: RegExp | string): QuantError {
  const e = quantError(fn);
  expect(e.code).toBe(code);
  if (typeof message === 'string') expect(e.message).toBe(message);
  else if (message) expect(e.message).toMatch(message);
  expect(e.message).not.toContain('\n');
  return e;
}

/** "CODE: message" of the QuantError fn throws, or 'no error': one string a table of cases can list. */
export function errorText(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(QuantError);
    return `${(e as QuantError).code}: ${(e as Error).message}`;
  }
  return 'no error';
}
