import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy } from '../../src/formats/npy.js';
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

/** A multipart body holding one small .npy in the field "file", as a form or a no-cors fetch sends it. */
function npyForm(): { headers: Record<string, string>; payload: Buffer } {
  const npy = Buffer.from(encodeNpy({ dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) }));
  const payload = Buffer.concat([
    Buffer.from('--B\r\nContent-Disposition: form-data; name="file"; filename="x.npy"\r\nContent-Type: application/octet-stream\r\n\r\n'),
    npy,
    Buffer.from('\r\n--B--\r\n'),
  ]);
  return { headers: { 'content-type': 'multipart/form-data; boundary=B' }, payload };
}

describe('Host header (DNS rebinding)', () => {
  it('answers localhost, IP addresses and the bound address, on any port', async () => {
    const { app } = await open({ host: '10.1.2.3' });
    for (const host of ['localhost', 'localhost:8000', 'LOCALHOST.:9', 'app.localhost:1', '127.0.0.1', '127.0.0.1:8000', '[::1]', '[::1]:8000', '10.1.2.3:8000', '192.168.0.7', '[fe80::1]:80']) {
      const r = await app.inject({ method: 'GET', url: '/instances', headers: { host } });
      expect(r.statusCode, host).toBe(200);
    }
  });

  it('refuses any other name with 421 and a JSON detail, whatever the route, even with the API key', async () => {
    const { app } = await open({ apiKey: 'k' });
    for (const [method, url] of [['GET', '/'], ['GET', '/instances'], ['GET', '/ui/'], ['POST', '/instances/x'], ['GET', '/openapi.json']] as const) {
      for (const host of ['evil.example', 'evil.example:8000', 'localhost.evil.example', '127.0.0.1.nip.io:8000', 'a b', 'evil.example:99999x']) {
        const r = await app.inject({ method, url, headers: { host, authorization: 'Bearer k' } });
        expect(r.statusCode, `${method} ${url} Host ${host}`).toBe(421);
        expect(r.json().detail).toMatch(/is not served here.*QUANTKIT_ALLOWED_HOSTS/);
      }
    }
  });

  it('a rebound page can neither read nor change instances', async () => {
    const { app } = await open({});
    const host = { host: 'rebind.attacker.example:8000' };
    expect((await app.inject({ method: 'GET', url: '/instances/default/parameters', headers: host })).statusCode).toBe(421);
    expect((await app.inject({ method: 'POST', url: '/instances/made-by-attacker', headers: { ...host, 'content-type': 'application/json' }, payload: '{}' })).statusCode).toBe(421);
    expect((await json(app, 'GET', '/instances')).json()).toEqual(['default']);
  });

  it('QUANTKIT_ALLOWED_HOSTS adds names, .name their subdomains, * any', async () => {
    const named = (await open({ allowedHosts: ['quant.example', '.corp.example'] })).app;
    for (const [host, status] of [['quant.example:443', 200], ['QUANT.example', 200], ['corp.example', 200], ['a.b.corp.example', 200], ['xquant.example', 421], ['evilcorp.example', 421]] as const) {
      expect((await named.inject({ method: 'GET', url: '/', headers: { host } })).statusCode, host).toBe(status);
    }
    const any = (await open({ allowedHosts: ['*'] })).app;
    expect((await any.inject({ method: 'GET', url: '/', headers: { host: 'whatever.example' } })).statusCode).toBe(200);
    expect(resolveServerOptions({}, { QUANTKIT_ALLOWED_HOSTS: 'a.example, .b.example' }).allowedHosts).toEqual(['a.example', '.b.example']);
    expect(resolveServerOptions({ allowedHosts: '*' }, { QUANTKIT_ALLOWED_HOSTS: 'a.example' }).allowedHosts).toEqual(['*']);
  });

  it('a bound name is answered', async () => {
    const { app } = await open({ host: 'quantbox' });
    expect((await app.inject({ method: 'GET', url: '/', headers: { host: 'quantbox:8000' } })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/', headers: { host: 'otherbox:8000' } })).statusCode).toBe(421);
  });
});

describe('cross-site writes (CSRF) without an API key', () => {
  it('a multipart upload_numpy from another origin is refused before it runs, and changes nothing', async () => {
    const { app } = await open({});
    const before = (await json(app, 'GET', '/instances/default/stats')).json();
    for (const headers of [
      { origin: 'https://evil.example' },
      { origin: 'http://localhost:3000' },
      { origin: 'null' },
      { origin: 'http://127.0.0.1:9999' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ]) {
      const r = await app.inject({ method: 'POST', url: '/instances/default/upload_numpy', ...npyForm(), headers: { ...npyForm().headers, host: '127.0.0.1:8000', ...headers } });
      expect(r.statusCode, JSON.stringify(headers)).toBe(403);
      expect(r.json().detail).toMatch(/^cross-(origin|site) POST refused/);
    }
    expect((await json(app, 'GET', '/instances/default/stats')).json()).toEqual(before);
  });

  it('refuses every state-changing method and content type from another origin', async () => {
    const { app } = await open({});
    const evil = { origin: 'https://evil.example' };
    const attempts = [
      app.inject({ method: 'POST', url: '/instances/evil1', headers: { ...evil, 'content-type': 'text/plain' }, payload: '{}' }),
      app.inject({ method: 'POST', url: '/instances/evil2', headers: { ...evil, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1' }),
      json(app, 'POST', '/instances/evil3', {}, evil),
      json(app, 'PUT', '/instances/default/config', { num_bits: 4 }, evil),
      json(app, 'DELETE', '/instances/default', undefined, evil),
      json(app, 'POST', '/instances/default/reset_stats', undefined, evil),
    ];
    for (const r of await Promise.all(attempts)) expect(r.statusCode).toBe(403);
    expect((await json(app, 'GET', '/instances')).json()).toEqual(['default']);
    expect((await json(app, 'GET', '/instances/default/config')).json().num_bits).toBe(8);
  });

  it('the page served by the service itself, non-browser clients and reads pass', async () => {
    const { app } = await open({});
    // The dashboard at http://127.0.0.1:8000/ui: its fetches name its own origin.
    const same = { host: '127.0.0.1:8000', origin: 'http://127.0.0.1:8000', 'sec-fetch-site': 'same-origin' };
    expect((await json(app, 'POST', '/instances/mine', {}, same)).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/instances/default/upload_numpy', headers: { ...npyForm().headers, ...same }, payload: npyForm().payload })).statusCode).toBe(200);
    expect((await json(app, 'PUT', '/instances/mine/config', { num_bits: 4 }, { host: 'localhost', origin: 'http://localhost' })).statusCode).toBe(200);
    expect((await json(app, 'DELETE', '/instances/mine', undefined, { host: '[::1]:8000', origin: 'http://[::1]:8000' })).statusCode).toBe(200);
    // curl, python: no Origin, no Sec-Fetch-Site.
    expect((await app.inject({ method: 'POST', url: '/instances/default/upload_numpy', ...npyForm() })).statusCode).toBe(200);
    // Reads from anywhere go through (the browser hides their answers without CORS headers).
    expect((await json(app, 'GET', '/instances', undefined, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })).statusCode).toBe(200);
  });

  it('origins listed in QUANTKIT_CORS_ORIGINS may write; * lets any', async () => {
    const { app } = await open({ corsOrigins: ['https://ok.example'] });
    expect((await json(app, 'POST', '/instances/a1', {}, { origin: 'https://ok.example' })).statusCode).toBe(200);
    expect((await json(app, 'POST', '/instances/a2', {}, { origin: 'https://OK.example:443' })).statusCode).toBe(200);
    expect((await json(app, 'POST', '/instances/a3', {}, { origin: 'https://ok.example:8443' })).statusCode).toBe(403);
    expect((await json(app, 'POST', '/instances/a4', {}, { origin: 'http://ok.example' })).statusCode).toBe(403);
    const any = (await open({ corsOrigins: ['*'] })).app;
    expect((await json(any, 'POST', '/instances/a5', {}, { origin: 'https://anyone.example' })).statusCode).toBe(200);
  });
});

describe('CORS exposed headers', () => {
  it('a listed origin can read X-Quantkit-Meta of a .npy answer', async () => {
    const { app } = await open({ corsOrigins: ['https://ok.example'] });
    const npy = Buffer.from(encodeNpy({ dtype: 'float32', shape: [1, 2], data: Float32Array.from([1, 2]) }));
    const r = await app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { origin: 'https://ok.example', 'content-type': 'application/x-npy', accept: 'application/x-npy' }, payload: npy });
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-quantkit-meta']).toBeDefined();
    const exposed = String(r.headers['access-control-expose-headers']).toLowerCase().split(/\s*,\s*/);
    expect(exposed).toContain('x-quantkit-meta');
  });
});
