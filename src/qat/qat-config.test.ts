import { describe, expect, it } from 'vitest';
import { QuantError } from '../core/errors.js';
import { parseQatConfig } from './qat-config.js';

describe('parseQatConfig: lsqInit', () => {
  it("defaults to the observer's scales and takes 'mean-abs'", () => {
    expect(parseQatConfig({ learnable: 'lsq' }).lsqInit).toBe('observer');
    expect(parseQatConfig({ learnable: 'lsq', lsqInit: 'mean-abs' }).lsqInit).toBe('mean-abs');
  });

  it('refuses any other start, naming the field', () => {
    let err: unknown;
    try {
      parseQatConfig({ learnable: 'lsq', lsqInit: 'paper' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QuantError);
    expect((err as QuantError).code).toBe('INVALID_CONFIG');
    expect((err as QuantError).message).toContain('lsqInit');
  });
});
