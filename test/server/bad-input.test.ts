import { STATUS_CODES } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNpy } from '../../src/formats/npy.js';
import { json, testApp, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp({ bodyLimit: 4096 });
});
afterAll(async () => t.close());

async function expectClientError(res: { statusCode: number; json(): unknown }, status: number, detail?: RegExp) {
  expect(res.statusCode).toBe(status);
  const body = res.json() as { detail: unknown };
  expect(body).toHaveProperty('detail');
  if (detail) expect(JSON.stringify(body.detail)).toMatch(detail);
  // The service keeps serving after every one of these.
  expect((await json(t.app, 'GET', '/')).statusCode).toBe(200);
}

const Q = '/instances/default/quantize';

describe('bad input gets a 4xx with a JSON detail', () => {
  it('ragged arrays, strings, empty data, missing fields', async () => {
    await expectClientError(await json(t.app, 'POST', Q, { data: [[1, 2], [3]] }), 422, /ragged/);
    await expectClientError(await json(t.app, 'POST', Q, { data: [[1, 'a']] }), 422, /expected a number, got a string/);
    await expectClientError(await json(t.app, 'POST', Q, { data: 'abc' }), 422, /expected an array of numbers/);
    await expectClientError(await json(t.app, 'POST', Q, { data: [] }), 422, /at least one element/);
    await expectClientError(await json(t.app, 'POST', Q, { data: [[]] }), 422, /at least one element/);
    const missing = await json(t.app, 'POST', Q, { validate: true });
    await expectClientError(missing, 422);
    expect(missing.json().detail[0]).toMatchObject({ loc: ['body', 'data'], msg: 'Field required', type: 'missing' });
    await expectClientError(await json(t.app, 'POST', Q, { data: [[1]], channel_dim: 'x' }), 422, /channel_dim/);
    await expectClientError(await json(t.app, 'POST', '/instances/default/dequantize', { data: [[1.5, 2]] }), 422, /integer codes/);
    // Dequantize needs parameters: none yet is a conflict with the instance's state.
    await expectClientError(await json(t.app, 'POST', '/instances/default/dequantize', { data: [[1, 2]] }), 409, /NOT_CALIBRATED|param/i);
    await json(t.app, 'POST', Q, { data: [[0, 1]] });
    await expectClientError(await json(t.app, 'POST', '/instances/default/dequantize', { data: [[1000, 2]] }), 422, /integer code in -128\.\.127/);
    await expectClientError(await json(t.app, 'POST', '/instances/default/calibrate', { data: [1, 2] }), 422, /at least 2 dimensions/);
    await expectClientError(await json(t.app, 'POST', '/instances/default/parameters', {}), 422, /Field required/);
    await expectClientError(await json(t.app, 'POST', Q, { data: [[1, 2]], channel_dim: 5 }), 422, /axis|channel/i);
  });

  it('JSON that does not parse, and an empty body', async () => {
    const r = await json(t.app, 'POST', Q, '{"data": [[1, 2], [3, 4]');
    await expectClientError(r, 422);
    expect(r.json().detail[0].type).toBe('json_invalid');
    await expectClientError(await json(t.app, 'POST', '/instances/x1', '{"num_bits": }'), 422, /json_invalid/);
    await expectClientError(await t.app.inject({ method: 'POST', url: Q, headers: { 'content-type': 'application/json' } }), 422, /json_invalid/);
    await expectClientError(await t.app.inject({ method: 'POST', url: Q, headers: { 'content-type': 'text/plain' }, payload: 'hello' }), 422);
  });

  it('NaN tokens when error_on_nan (and accepted when not)', async () => {
    await expectClientError(await json(t.app, 'POST', Q, '{"data": [[1, NaN, 2]]}'), 422, /NaN/);
    await json(t.app, 'POST', '/instances/lenient', { error_on_nan: false });
    const ok = await json(t.app, 'POST', '/instances/lenient/quantize', '{"data": [[1, NaN, 2]]}');
    expect(ok.statusCode).toBe(200);
  });

  it('unknown quantization_type or mode, num_bits or percentiles out of range', async () => {
    await expectClientError(await json(t.app, 'POST', '/instances/b1', { quantization_type: 'INT3' }), 422, /quantization_type/);
    await expectClientError(await json(t.app, 'POST', '/instances/b1', { quantization_mode: 'SOMETIMES' }), 422, /quantization_mode/);
    await expectClientError(await json(t.app, 'POST', '/instances/b1', { num_bits: 17 }), 422, /num_bits/);
    await expectClientError(await json(t.app, 'POST', '/instances/b1', { num_bits: 1 }), 422, /num_bits/);
    await expectClientError(await json(t.app, 'POST', '/instances/b1', { quantization_type: 'INT8', num_bits: 12 }), 422, /numBits: expected at most 8 bits/);
    await expectClientError(await json(t.app, 'POST', '/instances/b1', { min_percentile: -1 }), 422, /min_percentile/);
    await expectClientError(await json(t.app, 'POST', '/instances/b1', { max_percentile: 100.5 }), 422, /max_percentile/);
    await expectClientError(await json(t.app, 'POST', '/instances/b1', { min_percentile: 60, max_percentile: 40 }), 422, /minPercentile < maxPercentile/);
    await expectClientError(await json(t.app, 'POST', '/instances/b1', { no_such_field: 1 }), 422, /no_such_field/);
    await expectClientError(await json(t.app, 'PUT', '/instances/default/config', { num_bits: 99 }), 422, /num_bits/);
    expect((await json(t.app, 'GET', '/instances')).json()).not.toContain('b1');
  });

  it('absurd instance ids', async () => {
    await expectClientError(await json(t.app, 'POST', `/instances/${'a'.repeat(129)}`, {}), 422, /instance_id/);
    await expectClientError(await json(t.app, 'POST', '/instances/bad%20id', {}), 422, /instance_id/);
    await expectClientError(await json(t.app, 'POST', '/instances/%C3%A9t%C3%A9', {}), 422, /instance_id/);
    await expectClientError(await json(t.app, 'GET', `/instances/${'a'.repeat(129)}/stats`), 422, /instance_id/);
    expect((await json(t.app, 'POST', `/instances/${'a'.repeat(128)}`, {})).statusCode).toBe(200);
    expect((await json(t.app, 'POST', '/instances/A-b_c.9', {})).statusCode).toBe(200);
  });

  it('oversize bodies get 413', async () => {
    const big = { data: [Array.from({ length: 2000 }, (_, i) => i / 7)] };
    await expectClientError(await json(t.app, 'POST', Q, big), 413);
  });

  it('.npy bodies with a bad header, and .npy where it is not accepted', async () => {
    const r = await t.app.inject({ method: 'POST', url: Q, headers: { 'content-type': 'application/x-npy' }, payload: Buffer.from('\x93NUMPY\x01\x00garbage') });
    await expectClientError(r, 400, /npy/i);
    const good = Buffer.from(encodeNpy({ dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) }));
    await expectClientError(await t.app.inject({ method: 'POST', url: '/instances/x2', headers: { 'content-type': 'application/x-npy' }, payload: good }), 415);
  });

  it('upload_numpy: not a .npy, unknown operation, bad header, unknown instance', async () => {
    const npy = Buffer.from(encodeNpy({ dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) }));
    const form = (name: string, bytes: Buffer) => {
      const boundary = 'XyZ';
      const payload = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
        bytes,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      return { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload };
    };
    const up = (url: string, name: string, bytes: Buffer) => t.app.inject({ method: 'POST', url, ...form(name, bytes) });
    await expectClientError(await up('/instances/default/upload_numpy', 'x.txt', npy), 400, /Only \.npy/);
    await expectClientError(await up('/instances/default/upload_numpy?operation=explode', 'x.npy', npy), 400, /Invalid operation/);
    await expectClientError(await up('/instances/default/upload_numpy', 'x.npy', Buffer.from('not numpy at all')), 400, /magic/);
    await expectClientError(await up('/instances/ghost/upload_numpy', 'x.npy', npy), 404);
    const big = Buffer.from(encodeNpy({ dtype: 'float32', shape: [2000], data: new Float32Array(2000) }));
    await expectClientError(await up('/instances/default/upload_numpy', 'big.npy', big), 413);
  });
});

describe('malformed multipart, deep .npy, bad paths: 4xx with a JSON detail, never 5xx', () => {
  const U = '/instances/default/upload_numpy';
  const npy = Buffer.from(encodeNpy({ dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) }));
  const head = (b: string) => Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="x.npy"\r\nContent-Type: application/octet-stream\r\n\r\n`);

  it('no boundary, another boundary, a body cut short, no final boundary: 400, and nothing ran', async () => {
    const whole = Buffer.concat([head('B'), npy, Buffer.from('\r\n--B--\r\n')]);
    const cases: [string, string, Buffer][] = [
      ['no boundary', 'multipart/form-data', whole],
      ['another boundary', 'multipart/form-data; boundary=C', whole],
      ['cut inside the file', 'multipart/form-data; boundary=B', Buffer.concat([head('B'), npy])],
      ['cut inside the part headers', 'multipart/form-data; boundary=B', Buffer.from('--B\r\nContent-Disposition: form-da')],
      ['no final boundary', 'multipart/form-data; boundary=B', Buffer.concat([head('B'), npy, Buffer.from('\r\n--B\r\n')])],
      ['a second part cut short', 'multipart/form-data; boundary=B', Buffer.concat([head('B'), npy, Buffer.from('\r\n--B\r\nContent-Disposition: form-data; name="x"\r\n\r\nabc')])],
    ];
    const before = (await json(t.app, 'GET', '/instances/default/stats')).json();
    for (const [name, type, payload] of cases) {
      const r = await t.app.inject({ method: 'POST', url: U, headers: { 'content-type': type }, payload });
      expect(r.statusCode, name).toBe(400);
      await expectClientError(r, 400, /multipart/);
    }
    expect((await json(t.app, 'GET', '/instances/default/stats')).json()).toEqual(before);
    // The same body, well formed, is taken.
    expect((await t.app.inject({ method: 'POST', url: U, headers: { 'content-type': 'multipart/form-data; boundary=B' }, payload: whole })).statusCode).toBe(200);
  });

  it('a .npy of rank above 32 (as JSON arrays are capped) is 422 on every route that takes one; rank 32 is served', async () => {
    const ofRank = (rank: number) => Buffer.from(encodeNpy({ dtype: 'float32', shape: new Array<number>(rank).fill(1), data: Float32Array.from([3]) }));
    // The shared app's 4 KiB body limit is smaller than a rank-5000 header.
    const roomy = await testApp({});
    const app = roomy.app;
    try {
      for (const rank of [33, 5000]) {
        const body = ofRank(rank);
        for (const accept of ['application/json', 'application/x-npy']) {
          for (const route of ['quantize', 'quantize_dequantize']) {
            const r = await app.inject({ method: 'POST', url: `/instances/default/${route}`, headers: { 'content-type': 'application/x-npy', accept }, payload: body });
            await expectClientError(r, 422, new RegExp(`rank above 32 are not accepted, got rank ${rank}`));
          }
        }
        const form = Buffer.concat([head('B'), body, Buffer.from('\r\n--B--\r\n')]);
        for (const q of ['', '?download=true', '?operation=quantize_dequantize']) {
          const r = await app.inject({ method: 'POST', url: U + q, headers: { 'content-type': 'multipart/form-data; boundary=B' }, payload: form });
          await expectClientError(r, 422, /rank above 32/);
        }
      }
      const r = await app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { 'content-type': 'application/x-npy' }, payload: ofRank(32) });
      expect(r.statusCode).toBe(200);
      expect(r.json().original_shape).toHaveLength(32);
    } finally {
      await roomy.close();
    }
  });

  it('%ff in a path is 400, an id over 2,048 characters 414, neither echoing the path', async () => {
    for (const url of ['/instances/%ff', '/instances/%ff/stats', '/%ff', '/instances/%E0%A4%A']) {
      const r = await t.app.inject({ method: 'GET', url });
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      await expectClientError(r, 400, /percent-encoded UTF-8/);
    }
    const long = 'a'.repeat(3000);
    for (const [method, url] of [['GET', `/instances/${long}`], ['POST', `/instances/${long}`], ['GET', `/instances/${long}/stats`]] as const) {
      const r = await t.app.inject({ method, url });
      await expectClientError(r, 414, /longer than 2048 characters/);
      expect(r.body.length).toBeLessThan(200);
    }
  });

  it('what Node refuses before fastify (a bad Content-Length, a broken request line) is JSON too', async () => {
    const served = await testApp({});
    try {
      await served.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = served.app.server.address() as AddressInfo;
      for (const [head, status, detail] of [
        ['POST /instances/default/quantize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}', 400, /Content-Length/],
        ['POST /instances/default/quantize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n{}', 400, /Content-Length/],
        ['POST /instances/default/quantize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}', 400, /Content-Length/],
        ['POST /instances/default/quantize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, /Transfer-Encoding/],
        ['GARBAGE\r\n\r\n', 400, /not valid HTTP/],
        [`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, /headers are too large/],
      ] as const) {
        const answer = await rawExchange(port, head);
        const [statusLine] = answer.split('\r\n');
        expect(statusLine, head.slice(0, 100)).toBe(`HTTP/1.1 ${status} ${STATUS_CODES[status]}`);
        expect(answer).toMatch(/\r\ncontent-type: application\/json\r\n/i);
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { detail: string };
        expect(body.detail).toMatch(detail);
      }
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    } finally {
      await served.close();
    }
  });
});

/** Writes `text` on a fresh connection and returns everything the server sends until it closes. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}
