import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy } from '../../src/formats/npy.js';
import { json, testApp, type TestApp, multipart } from './helpers.js';

/*
 * Every real .npy fixture numpy wrote (both byte orders, C and Fortran order, data at aligned and
 * odd offsets, bools of any non-zero byte) sent to each route that takes a .npy body, on an
 * instance that does not quantize (NONE): the answer must be numpy's astype(float32) of the file,
 * byte for byte. Bodies arrive as small Buffers sliced from Node's shared pool, so a decoder that
 * reads from the pool's start answers with another request's bytes.
 */

const FIXTURES = new URL('../fixtures/npy/', import.meta.url);
interface Entry {
  file: string;
  dtype: string;
  shape: number[];
  float32Hex: string | null;
}
const manifest = JSON.parse(readFileSync(new URL('manifest.json', FIXTURES), 'utf8')) as { files: Entry[] };
// Complex files have no float32 value (their refusal is tested with the codec); 0-d and empty
// arrays are refused by the routes for reasons of their own.
const cases = manifest.files.filter((e) => e.float32Hex !== null && e.shape.length > 0 && !e.shape.includes(0));

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
  expect((await json(t.app, 'POST', '/instances/plain', { quantization_type: 'NONE' })).statusCode).toBe(200);
});
afterAll(async () => t.close());

const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

function answerHex(payload: Buffer): string {
  const arr = decodeNpy(new Uint8Array(payload));
  expect(arr.dtype).toBe('float32');
  return hexOf(new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength));
}

describe('.npy bodies of every dtype, byte order and alignment answer numpy\'s values', () => {
  it('covers big-endian, Fortran-order and odd-offset files', () => {
    expect(cases.some((e) => e.file.includes('-be-'))).toBe(true);
    expect(cases.some((e) => e.file.includes('-F-'))).toBe(true);
    expect(cases.filter((e) => e.file.startsWith('unaligned/')).length).toBeGreaterThan(20);
  });

  for (const e of cases) {
    it(e.file, async () => {
      const body = readFileSync(new URL(e.file, FIXTURES));
      // dequantize takes integer codes; a float body is refused before it is quantized.
      const ops = e.dtype.startsWith('float') ? ['quantize', 'quantize_dequantize'] : ['quantize', 'dequantize', 'quantize_dequantize'];
      for (const op of ops) {
        const r = await t.app.inject({
          method: 'POST',
          url: `/instances/plain/${op}?validate=false`,
          headers: { 'content-type': 'application/x-npy', accept: 'application/x-npy' },
          payload: body,
        });
        expect(r.statusCode, `${op}: ${r.body}`).toBe(200);
        expect(answerHex(r.rawPayload), op).toBe(e.float32Hex);
      }
      for (const op of ops) {
        const r = await t.app.inject({
          method: 'POST',
          url: `/instances/plain/upload_numpy?operation=${op}&download=true&validate=false`,
          ...multipart('x.npy', body),
        });
        expect(r.statusCode, `upload ${op}: ${r.body}`).toBe(200);
        expect(answerHex(r.rawPayload), `upload ${op}`).toBe(e.float32Hex);
      }
    });
  }

  it('complex bodies, in either byte order and at odd offsets, are refused with a JSON detail', async () => {
    const complex = manifest.files.filter((e) => e.float32Hex === null && e.shape.length > 0 && !e.shape.includes(0));
    expect(complex.some((e) => e.file.startsWith('unaligned/'))).toBe(true);
    for (const e of complex) {
      const r = await t.app.inject({ method: 'POST', url: '/instances/plain/quantize', headers: { 'content-type': 'application/x-npy' }, payload: readFileSync(new URL(e.file, FIXTURES)) });
      expect(r.statusCode, e.file).toBeGreaterThanOrEqual(400);
      expect(r.statusCode, e.file).toBeLessThan(500);
      expect(r.json().detail, e.file).toMatch(/complex/);
    }
  });

  it("a small big-endian body answers its own values, never the previous client's (20 alternating tries)", async () => {
    const mine = Float32Array.from([0, 1, 2, 3, 4, 5]);
    const body = Buffer.from(encodeNpy({ dtype: 'float32', shape: [6], data: mine }, { littleEndian: false }));
    for (let i = 0; i < 20; i++) {
      const other = Float32Array.from({ length: 6 + i }, (_, k) => 1000 + 17 * i + k);
      const a = t.app.inject({ method: 'POST', url: '/instances/plain/quantize_dequantize', headers: { 'content-type': 'application/x-npy', accept: 'application/x-npy' }, payload: Buffer.from(encodeNpy({ dtype: 'float32', shape: [other.length], data: other })) });
      const b = t.app.inject({ method: 'POST', url: '/instances/plain/quantize_dequantize', headers: { 'content-type': 'application/x-npy', accept: 'application/x-npy' }, payload: body });
      const [, rb] = await Promise.all([a, b]);
      expect(Array.from(decodeNpy(new Uint8Array(rb.rawPayload)).data as Float32Array), `try ${i}`).toEqual(Array.from(mine));
    }
  });
});

