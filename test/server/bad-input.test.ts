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
