import { describe, expect, it } from 'vitest';
import { quantError as error } from '../../test/helpers/quant-error.js';
import { Registry } from './registry.js';

describe('Registry', () => {
  it('throws on duplicates and unknown keys, listing the known ones', () => {
    const r = new Registry<string, number>('widget').register('a', 1).register('b', 2);
    expect(r.get('b')).toBe(2);
    expect(r.keys()).toEqual(['a', 'b']);
    expect(error(() => r.register('a', 3)).message).toBe("widget 'a' is registered twice");
    const unknown = error(() => r.get('c'));
    expect(unknown.code).toBe('UNSUPPORTED');
    expect(unknown.message).toBe("unknown widget 'c': expected one of a, b");
    expect(error(() => new Registry('thing').get('x')).message).toContain('(none registered)');
  });

  it('resolves an alias to its key, lists only registered keys and refuses clashing or dangling aliases', () => {
    const r = new Registry<'mse' | 'minmax', string>('observer', 'INVALID_ARGUMENT').register('minmax', 'M').register('mse', 'H').alias('histogram', 'mse');
    expect(r.resolve('histogram')).toBe('mse');
    expect(r.get('histogram')).toBe('H');
    expect(r.has('histogram')).toBe(true);
    expect(r.keys()).toEqual(['minmax', 'mse']);
    expect(error(() => r.alias('minmax', 'mse')).message).toBe("observer 'minmax' is registered twice");
    expect(error(() => r.register('histogram' as 'mse', 'X')).message).toBe("observer 'histogram' is registered twice");
    expect(error(() => r.alias('kl', 'entropy' as 'mse')).message).toBe("unknown observer 'entropy': expected one of minmax, mse");
    const unknown = error(() => r.get('kl'));
    expect(unknown.code).toBe('INVALID_ARGUMENT');
    expect(unknown.message).toBe("unknown observer 'kl': expected one of minmax, mse");
  });

  it('is empty until filled: constructing one registers nothing', () => {
    expect(new Registry('widget').keys()).toEqual([]);
  });
});
