import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNpy } from '../../src/formats/npy.js';
import { json, testApp, type TestApp } from './helpers.js';

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

function multipart(name: string, bytes: Uint8Array) {
  const b = 'npyB0undary';
  return {
    headers: { 'content-type': `multipart/form-data; boundary=${b}` },
    payload: Buffer.concat([
      Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n\r\n`),
      bytes,
      Buffer.from(`\r\n--${b}--\r\n`),
    ]),
  };
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
});
