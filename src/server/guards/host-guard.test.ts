import { describe, expect, it } from 'vitest';
import { hostNameOf, isAllowedHost } from './host-guard.js';

describe('hostNameOf', () => {
  it('takes the name of host[:port], lower-cased, without a trailing dot', () => {
    expect(hostNameOf('Example.COM:8000')).toBe('example.com');
    expect(hostNameOf('localhost.')).toBe('localhost');
    expect(hostNameOf('[::1]:80')).toBe('[::1]');
    expect(hostNameOf('[FE80::1]')).toBe('[fe80::1]');
    for (const bad of ['', ' ', 'a b', 'a:b:c', '::1', 'x:123456', 'user@host', 'a/b', '[::1']) expect(hostNameOf(bad), bad).toBeNull();
  });
});

describe('isAllowedHost', () => {
  it('allows loopback names, IP literals and the bound address; names only when listed', () => {
    expect(isAllowedHost('localhost', '127.0.0.1', [])).toBe(true);
    expect(isAllowedHost('x.localhost', '127.0.0.1', [])).toBe(true);
    expect(isAllowedHost('localhost.example', '127.0.0.1', [])).toBe(false);
    expect(isAllowedHost('8.8.8.8', '127.0.0.1', [])).toBe(true);
    expect(isAllowedHost('[2001:db8::1]', '127.0.0.1', [])).toBe(true);
    expect(isAllowedHost('box', 'BOX.', [])).toBe(true);
    expect(isAllowedHost('[::1]', '::1', [])).toBe(true);
    expect(isAllowedHost('example.com', '0.0.0.0', [])).toBe(false);
    expect(isAllowedHost('example.com', '0.0.0.0', ['Example.com'])).toBe(true);
    expect(isAllowedHost('api.example.com', '0.0.0.0', ['.example.com'])).toBe(true);
    expect(isAllowedHost('badexample.com', '0.0.0.0', ['.example.com'])).toBe(false);
    expect(isAllowedHost('anything', '0.0.0.0', ['*'])).toBe(true);
  });
});
