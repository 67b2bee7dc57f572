import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { NdArray } from '../../src/server/body/nd-array.js';
import { JsonBodyParser, parseJsonBody } from '../../src/server/body/parse-json-body.js';
import { RequestError } from '../../src/server/errors/request-error.js';
import { testApp, type TestApp } from './helpers.js';

const enc = new TextEncoder();
const KEYS = new Set(['data']);

type Outcome = { ok: true; value: unknown } | { ok: false; status: number; detail: unknown };

/** The body parsed with its bytes pushed in the given pieces, as data or as the error it gave. */
function parseInPieces(bytes: Uint8Array, cuts: number[]): Outcome {
  const p = new JsonBodyParser(KEYS, { expectedBytes: bytes.length });
  try {
    let from = 0;
    for (const c of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
      p.push(bytes.subarray(from, c));
      from = c;
    }
    return { ok: true, value: plain(p.end()) };
  } catch (e) {
    if (!(e instanceof RequestError)) throw e;
    return { ok: false, status: e.statusCode, detail: e.detail };
  } finally {
    p.release();
  }
}

/** NdArrays as plain data, so results compare with toEqual. */
function plain(v: unknown): unknown {
  if (v instanceof NdArray) return { data: Array.from(v.data), shape: v.shape, integral: v.integral };
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function floats(text: string): number[] {
  return Array.from((parseJsonBody(enc.encode(text), KEYS) as { data: NdArray }).data.data);
}

describe('JsonBodyParser: the body in pieces', () => {
  const bodies = [
    '{"validate": false, "data": [[1.25, -2.5e3, 3], [NaN, Infinity, -Infinity]], "layer_name": "fc\\"x", "o": {"a": [1, {"b": "]"}]}}',
    '{"data": [[[0.30000001192092896, 2.6206161975860596], [-0.016475677490234375, 1e-45]]], "channel_dim": null}',
    '  { "data" : [ 1 , 2 , 3 ] , "x" : true }  ',
    '{"data": 7.5}',
    '{"data": []}',
    '[1, 2]',
    '{"data": [[1, 2], [3]]}',
    '{"data": [[1, "a"]]}',
    '{"data": [1, 2',
    '{"data": [1.]}',
    '{"data": [Nan]}',
    '{"data": [1]} x',
    '{"a": tru, "data": [1]}',
  ];

  it('gives the same value or the same error wherever the chunks are cut (every single cut)', () => {
    for (const body of bodies) {
      const bytes = enc.encode(body);
      const whole = parseInPieces(bytes, []);
      for (let c = 1; c < bytes.length; c++) expect(parseInPieces(bytes, [c]), `${body} cut at ${c}`).toEqual(whole);
      // One byte at a time.
      expect(parseInPieces(bytes, Array.from({ length: bytes.length }, (_, i) => i)), body).toEqual(whole);
    }
  });

  it('keeps integrality when a number is cut at a chunk boundary (1.11e86 is integral; its prefix 1.11 is not)', () => {
    const text = JSON.stringify({ data: [[10000000, 1.1131373382600512e86, 1.0001024780605611e109], [1.0000000200408773e21, 0, 0]], validate: true });
    const bytes = enc.encode(text);
    const whole = parseInPieces(bytes, []);
    for (let cut = 1; cut < bytes.length; cut++) expect(parseInPieces(bytes, [cut])).toEqual(whole);
    expect(whole.ok && (whole.value as { data: { integral: boolean } }).data.integral).toBe(true);
  });

  it('gives the same value for random arrays under random chunkings', () => {
    const value = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.float({ noNaN: true, noDefaultInfinity: true }).map((x) => x), fc.integer());
    fc.assert(
      fc.property(fc.array(fc.array(value, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 20 }), fc.array(fc.nat(2000), { maxLength: 12 }), (rows, cuts) => {
        const text = JSON.stringify({ data: rows, validate: true });
        const bytes = enc.encode(text);
        const got = parseInPieces(bytes, cuts);
        expect(got).toEqual(parseInPieces(bytes, []));
        expect(got.ok && (got.value as { data: { data: number[] } }).data.data).toEqual((JSON.parse(text).data as number[][]).flat().map(Math.fround));
      }),
      { seed: 20261207 },
    );
  });

  it('waits for the end of the body without a Content-Length too (the buffer grows)', () => {
    const text = JSON.stringify({ data: Array.from({ length: 300 }, (_, i) => [i / 3, -i]) });
    const p = new JsonBodyParser(KEYS);
    for (let i = 0; i < text.length; i += 1000) p.push(enc.encode(text.slice(i, i + 1000)));
    const a = (p.end() as { data: NdArray }).data;
    p.release();
    expect(a.shape).toEqual([300, 2]);
    expect(a.data[2]).toBe(Math.fround(1 / 3));
  });

  it('reuses its large buffer without reading what an earlier body left in it', () => {
    const big = enc.encode(`{"data": [${Array.from({ length: 400_000 }, () => '1111').join(',')}]}`);
    expect(floats(new TextDecoder().decode(big)).length).toBe(400_000);
    // Shorter bodies now land in the same buffer over stale digits.
    expect(floats('{"data": [2, 3]}')).toEqual([2, 3]);
    expect(() => parseJsonBody(enc.encode('{"data": [2, 3'), KEYS)).toThrow(/unterminated array/);
    expect(() => parseJsonBody(enc.encode('{"data": [2, 3.'), KEYS)).toThrow(/malformed number/);
  });
});

describe('number conversion: Math.fround(JSON.parse(text)) exactly', () => {
  const expectExact = (texts: string[]) => {
    const got = floats(`{"data": [${texts.join(',')}]}`);
    texts.forEach((t, i) => expect(Object.is(got[i], Math.fround(JSON.parse(t) as number)), `${t}: got ${got[i]}, want ${Math.fround(JSON.parse(t))}`).toBe(true));
  };

  it('exponents, -0, the float32 extremes and beyond', () => {
    expectExact([
      '-0', '0', '-0.0', '0e10', '1e0', '1E+2', '-2.5e-3', '1e22', '1e23', '1e-22', '1e-23', '123e-20', '4.5e+15',
      '1e-45', '1.4e-45', '1.401298464324817e-45', '7e-46', '7.1e-46', '7.006492321624085e-46', '2e-45', '1.1754943508222875e-38', '1.1754942e-38',
      '3.4028234663852886e38', '3.4028235677973366e38', '3.4028235677973367e38', '3.40282357e38', '1e39', '-1e39', '1e308', '1e400', '-1e400', '5e-324', '1e-400',
    ]);
  });

  it('many digits: long integers and fractions, past every fast path', () => {
    expectExact([
      '123456789012345', '1234567890123456', '12345678901234567890', '123456789012345678901234567890', '1234567890123456789012345678901',
      '0.1', '0.123456789012345678901', '0.1234567890123456789012', '0.12345678901234567890123', '0.000000000000000000000000000001',
      '3.14159265358979323846264338327950288', '16777216.000000000000000000000001', '16777217', '16777217.000000000001', '16777216.999999999999',
      '2.6206161975860596', '-0.016475677490234375', '1.0000000596046447753906250', '1.00000005960464477539062500001', '1.00000005960464477539062499999',
    ]);
  });

  it('random decimal strings of up to 40 digits, with and without exponents', () => {
    const digits = (min: number, max: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((d) => d.join(''));
    const decimal = fc
      .tuple(fc.boolean(), fc.integer({ min: 1, max: 9 }), digits(0, 20), fc.option(digits(1, 25)), fc.option(fc.integer({ min: -60, max: 45 })))
      .map(([neg, lead, int, frac, exp]) => `${neg ? '-' : ''}${lead}${int}${frac === null ? '' : `.${frac}`}${exp === null ? '' : `e${exp}`}`);
    const small = fc.tuple(fc.boolean(), digits(1, 30)).map(([neg, frac]) => `${neg ? '-' : ''}0.${frac}`);
    fc.assert(fc.property(fc.array(fc.oneof(decimal, small), { minLength: 1, maxLength: 30 }), (texts) => expectExact(texts)), { numRuns: 300 });
  });

  it('float32 values as Python prints them, and the midpoints between neighbours', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 40 }), (xs) => {
        const mids = xs.map((a) => {
          const up = new Float32Array([a]);
          new Uint32Array(up.buffer)[0]++;
          return Number.isFinite(up[0]) ? ((a + up[0]) / 2).toPrecision(17) : '0';
        });
        expectExact([...xs.map(String), ...mids]);
      }),
    );
  });
});

describe('a large JSON body sent in pieces over HTTP', () => {
  let t: TestApp;
  afterAll(async () => t?.close());

  it('is answered as the same body sent whole', async () => {
    t = await testApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.server.address() as AddressInfo).port;
    const rows = Array.from({ length: 200 }, (_, r) => Array.from({ length: 300 }, (_, i) => Math.fround(Math.sin(r * 300 + i) * 3)));
    const body = Buffer.from(JSON.stringify({ data: rows, validate: true }));
    const whole = await t.app.inject({ method: 'POST', url: '/instances/default/quantize', headers: { 'content-type': 'application/json' }, payload: body });
    const pieces = await new Promise<string>((resolve, reject) => {
      const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/instances/default/quantize', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (s += c));
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      // Odd-sized pieces with pauses, so numbers are cut across reads.
      let from = 0;
      const next = () => {
        if (from >= body.length) return void req.end();
        req.write(body.subarray(from, from + 7777));
        from += 7777;
        setTimeout(next, 1);
      };
      next();
    });
    expect(whole.statusCode).toBe(200);
    expect(JSON.parse(pieces)).toEqual(whole.json());
  });
});
