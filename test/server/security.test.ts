import { afterAll, describe, expect, it } from 'vitest';
import { resolveServerOptions } from '../../src/server/server-options.js';
import { json, testApp, type TestApp } from './helpers.js';

const opened: TestApp[] = [];
afterAll(async () => {
  for (const t of opened) await t.close();
});
async function open(o: Parameters<typeof testApp>[0]) {
  const t = await testApp(o);
  opened.push(t);
  return t;
}

describe('API key', () => {
  it('with a key, every route but GET / needs Authorization: Bearer <key>', async () => {
    const { app } = await open({ apiKey: 's3cret' });
    expect((await json(app, 'GET', '/')).statusCode).toBe(200);
    for (const [m, u] of [['GET', '/instances'], ['GET', '/instances/default/stats'], ['GET', '/openapi.json'], ['GET', '/documentation'], ['GET', '/docs']] as const) {
      const r = await json(app, m, u);
      expect(r.statusCode, u).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer');
      expect(r.json().detail).toMatch(/Not authenticated/);
    }
    expect((await json(app, 'POST', '/instances/default/quantize', { data: [[1]] })).statusCode).toBe(401);
    expect((await json(app, 'GET', '/instances', undefined, { authorization: 'Bearer wrong' })).statusCode).toBe(401);
    expect((await json(app, 'GET', '/instances', undefined, { authorization: 's3cret' })).statusCode).toBe(401);
    const ok = await json(app, 'GET', '/instances', undefined, { authorization: 'Bearer s3cret' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual(['default']);
    const q = await json(app, 'POST', '/instances/default/quantize', { data: [[1, 2]] }, { authorization: 'Bearer s3cret' });
    expect(q.statusCode).toBe(200);
  });

  it('without a key, nothing asks for one', async () => {
    const { app } = await open({});
    expect((await json(app, 'GET', '/instances')).statusCode).toBe(200);
  });
});

describe('CORS', () => {
  it('sends no CORS headers by default (browsers on other origins are refused)', async () => {
    const { app } = await open({});
    const r = await app.inject({ method: 'GET', url: '/', headers: { origin: 'https://evil.example' } });
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows the configured origins, and preflights pass without the key', async () => {
    const { app } = await open({ corsOrigins: ['https://ok.example'], apiKey: 'k' });
    const pre = await app.inject({
      method: 'OPTIONS',
      url: '/instances',
      headers: { origin: 'https://ok.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(pre.statusCode).toBeLessThan(300);
    expect(pre.headers['access-control-allow-origin']).toBe('https://ok.example');
    const other = await app.inject({ method: 'GET', url: '/', headers: { origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('resolveServerOptions', () => {
  it('takes flags over environment over defaults and validates each', () => {
    expect(resolveServerOptions({}, {})).toMatchObject({ port: 8000, host: '127.0.0.1', dataDir: './data', apiKey: undefined, corsOrigins: [], bodyLimit: 256 * 1024 * 1024 });
    const o = resolveServerOptions({ port: '9001' }, { PORT: '9000', HOST: '0.0.0.0', QUANTKIT_API_KEY: 'k', QUANTKIT_CORS_ORIGINS: 'https://a, https://b', QUANTKIT_BODY_LIMIT: '1MiB', QUANTKIT_DATA_DIR: '/tmp/x' });
    expect(o).toMatchObject({ port: 9001, host: '0.0.0.0', apiKey: 'k', corsOrigins: ['https://a', 'https://b'], bodyLimit: 1048576, dataDir: '/tmp/x' });
    expect(() => resolveServerOptions({ port: '70000' }, {})).toThrow(/PORT: expected an integer in 0\.\.65535, got "70000"/);
    expect(() => resolveServerOptions({}, { QUANTKIT_BODY_LIMIT: 'lots' })).toThrow(/QUANTKIT_BODY_LIMIT/);
  });
});

describe('request logs', () => {
  it('are structured JSON lines with method, url and status, without bodies or credentials', async () => {
    const lines: string[] = [];
    const { app } = await open({ logger: undefined, logLevel: 'info', logStream: { write: (l: string) => lines.push(l) }, apiKey: 'topsecret' });
    await json(app, 'POST', '/instances/default/quantize', { data: [[123.456, 789.25]] }, { authorization: 'Bearer topsecret' });
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const incoming = records.find((r) => r.msg === 'incoming request') as { req: { method: string; url: string } };
    expect(incoming.req).toMatchObject({ method: 'POST', url: '/instances/default/quantize' });
    const done = records.find((r) => r.msg === 'request completed') as { res: { statusCode: number }; responseTime: number };
    expect(done.res.statusCode).toBe(200);
    const all = lines.join('\n');
    expect(all).not.toContain('123.456');
    expect(all).not.toContain('topsecret');
  });
});
