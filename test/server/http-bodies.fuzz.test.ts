import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeNpy } from '../../src/formats/npy.js';
import { testApp, type TestApp } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file 1000 generated bodies through the whole HTTP stack per test.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

/**
 * Hostile request bodies through the whole service (app.inject: routing, content-type parsers,
 * multipart, validation, the engine): every answer is a 2xx or a 4xx with a JSON `detail`, never
 * a 5xx, a hang (the test's timeout) or a crash, and the service answers GET / afterwards.
 */

let t: TestApp;
beforeAll(async () => {
  // A small body limit so the 413 paths are reached too.
  t = await testApp({ bodyLimit: 64 * 1024 });
});
afterAll(async () => t.close());

const RUNS = 1000;
function expectAnswered(seen: Map<number, number>, r: LightMyRequestResponse, what: string): void {
  seen.set(r.statusCode, (seen.get(r.statusCode) ?? 0) + 1);
  const ok = (r.statusCode >= 200 && r.statusCode < 300) || (r.statusCode >= 400 && r.statusCode < 500);
  if (!ok) throw new Error(`${what}: answered ${r.statusCode} ${r.body.slice(0, 300)}`);
  if (r.statusCode >= 400) {
    expect(r.headers['content-type'], what).toMatch(/^application\/json/);
    expect(JSON.parse(r.body), what).toHaveProperty('detail');
  }
}

/** Both kinds of answer came up often, so neither path went unexercised. */
function expectBothKinds(seen: Map<number, number>): void {
  const count = (lo: number) => [...seen].filter(([s]) => s >= lo && s < lo + 100).reduce((a, [, n]) => a + n, 0);
  expect(count(200)).toBeGreaterThan(RUNS / 20);
  expect(count(400)).toBeGreaterThan(RUNS / 4);
}

const enc = (s: string) => Buffer.from(s, 'utf8');
/** Where to cut a body short, one time in four. */
const SOMETIMES_CUT = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, fc.nat());
const NAME = fc.stringMatching(/^[A-Za-z0-9_.\- ]{0,12}$/);

/** A valid small .npy, or one with bytes changed or cut. */
const NPY = fc
  .record({
    dtype: fc.constantFrom('float32', 'float64', 'int8', 'uint8', 'int32', 'float16', 'bool'),
    shape: fc.oneof({ weight: 4, arbitrary: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }) }, fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 })),
    flips: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 })),
    cut: SOMETIMES_CUT,
  })
  .map(({ dtype, shape, flips, cut }) => {
    const n = shape.reduce((a, d) => a * d, 1);
    const values = Float64Array.from({ length: n }, (_, i) => ((i * 37) % 11) - 5);
    const data = dtype === 'float32' ? Float32Array.from(values) : dtype === 'float64' ? values : dtype === 'int8' ? Int8Array.from(values) : dtype === 'uint8' ? Uint8Array.from(values, Math.abs) : dtype === 'int32' ? Int32Array.from(values) : dtype === 'bool' ? Uint8Array.from(values, (v) => (v > 0 ? 1 : 0)) : Uint16Array.from(values, Math.abs);
    const bytes = Buffer.from(encodeNpy({ dtype, shape, data } as Parameters<typeof encodeNpy>[0]));
    for (const [at, b] of flips) bytes[at % bytes.length] = b;
    return cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
  });
const CONTENT = fc.oneof({ weight: 5, arbitrary: NPY }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)) });

const FILE_HEADERS = NAME.map((f) => `Content-Disposition: form-data; name="file"; filename="${f}.npy"\r\nContent-Type: application/octet-stream\r\n`);
const ODD_HEADERS = fc.oneof(
  NAME.map((f) => `Content-Disposition: form-data; name="file"; filename="${f}"\r\n`),
  NAME.map((n) => `Content-Disposition: form-data; name="${n}"\r\n`),
  fc.constant('Content-Disposition: form-data; name="file"; filename="x.npy"; filename*=UTF-8\'\'%ff.npy\r\n'),
  fc.constant('Content-Disposition: attachment\r\n'),
  fc.string({ maxLength: 40 }).map((s) => `${s}\r\n`),
  fc.constant(''),
);

/**
 * What is wrong with a multipart body: nothing (about half the time), or one defect, so the bodies that
 * pass reach the operations and each defect is met on an otherwise good body.
 */
const MULTIPART_DEFECT = fc.constantFrom(
  ...Array<'none'>(18).fill('none'),
  'cut', 'no-closing', 'bare-closing', 'no-boundary-param', 'other-boundary', 'quoted-boundary', 'mixed', 'empty-boundary',
  'second-file', 'field-first', 'no-file', 'odd-part', 'epilogue', 'preamble',
);

/** A multipart body holding one .npy (or junk), with the defect applied. */
const MULTIPART = fc
  .record({
    boundary: fc.stringMatching(/^[A-Za-z0-9'+_.-]{1,30}$/),
    file: FILE_HEADERS,
    content: CONTENT,
    odd: fc.tuple(ODD_HEADERS, CONTENT),
    defect: MULTIPART_DEFECT,
    cut: fc.nat(),
  })
  .map(({ boundary, file, content, odd, defect, cut }) => {
    const part = (headers: string, body: Buffer) => [enc(`--${boundary}\r\n${headers}\r\n`), body, enc('\r\n')];
    const parts =
      defect === 'second-file' ? [part(file, content), part(file, content)]
      : defect === 'field-first' ? [part('Content-Disposition: form-data; name="note"\r\n', enc('hello')), part(file, content)]
      : defect === 'no-file' ? []
      : defect === 'odd-part' ? [part(...odd), part(file, content)]
      : [part(file, content)];
    const closing = defect === 'no-closing' ? '' : defect === 'bare-closing' ? '--' : defect === 'epilogue' ? '--\r\nepilogue' : '--\r\n';
    const whole = Buffer.concat([enc(defect === 'preamble' ? 'preamble\r\n' : ''), ...parts.flat(), enc(`--${boundary}${closing}`)]);
    const payload = defect === 'cut' ? whole.subarray(0, cut % whole.length) : whole;
    const contentType =
      defect === 'no-boundary-param' ? 'multipart/form-data'
      : defect === 'other-boundary' ? `multipart/form-data; boundary=${boundary}x`
      : defect === 'quoted-boundary' ? `multipart/form-data; boundary="${boundary}"`
      : defect === 'mixed' ? `multipart/mixed; boundary=${boundary}`
      : defect === 'empty-boundary' ? 'multipart/form-data; boundary='
      : `multipart/form-data; boundary=${boundary}`;
    return { contentType, payload };
  });

/** A query string of valid options, or with one wrong. */
const UPLOAD_QUERY = fc
  .record({
    operation: fc.constantFrom(undefined, 'quantize', 'dequantize', 'quantize_dequantize'),
    download: fc.constantFrom(undefined, 'true', 'false'),
    validate: fc.constantFrom(undefined, 'true', 'false'),
    channel_dim: fc.constantFrom(undefined, undefined, undefined, '0'),
    layer_name: fc.constantFrom(undefined, undefined, 'fc1'),
    wrong: fc.constantFrom(...Array<undefined>(10).fill(undefined), 'operation=explode', 'operation=', 'download=maybe', 'channel_dim=x', 'channel_dim=7', 'channel_dim=-1', 'validate=2'),
  })
  .map(({ wrong, ...q }) => {
    const params = new URLSearchParams(Object.entries(q as Record<string, string | undefined>).filter((e): e is [string, string] => e[1] !== undefined));
    if (wrong !== undefined) params.set(wrong.slice(0, wrong.indexOf('=')), wrong.slice(wrong.indexOf('=') + 1));
    return params.toString();
  });

describe('HTTP bodies (fast-check, seeded): 2xx or 4xx with a JSON detail, never a 5xx', () => {
  it(`upload_numpy takes ${RUNS} generated multipart bodies`, async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(MULTIPART, UPLOAD_QUERY, fc.constantFrom('default', 'default', 'default', 'default', 'ghost'), async ({ contentType, payload }, query, id) => {
        const r = await t.app.inject({ method: 'POST', url: `/instances/${id}/upload_numpy?${query}`, headers: { 'content-type': contentType }, payload });
        expectAnswered(seen, r, `upload ${contentType} ${query} (${payload.length} bytes)`);
      }),
      { seed: 0xb0d1, numRuns: RUNS },
    );
    expect((await t.app.inject({ method: 'GET', url: '/' })).statusCode).toBe(200);
    expectBothKinds(seen);
  });

  it(`the JSON and .npy routes take ${RUNS} generated bodies`, async () => {
    const seen = new Map<number, number>();
    // Well-formed-looking bodies with wrong values, JSON-ish token soup and plain bytes.
    const number = fc.oneof(fc.double(), fc.integer({ min: -300, max: 300 }));
    const nested = fc.array(fc.array(number, { minLength: 0, maxLength: 4 }), { maxLength: 4 });
    const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), nested, number, NAME);
    const field = fc.constantFrom(
      'data', 'validate', 'channel_dim', 'layer_name', 'channel_idx', 'parameters', 'quantization_type', 'quantization_mode', 'num_bits',
      'symmetric', 'per_channel', 'channel_axis', 'error_on_nan', 'error_on_inf', 'outlier_threshold', 'min_percentile', 'max_percentile', 'observer', 'extra',
    );
    const object = fc.dictionary(field, value, { maxKeys: 5 }).map((o) => enc(JSON.stringify(o)));
    // Bodies most routes accept, with an option or two that may or may not fit.
    const rect = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.array(fc.integer({ min: -200, max: 200 }), { minLength: 1, maxLength: 12 }))
      .chain(([rows, cols, v]) => fc.constantFrom(1, 1, 4).map((div) => Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => v[(i * cols + j) % v.length] / div))));
    const plausible = fc
      .record({
        data: fc.oneof(rect, rect.map((r) => [r])),
        validate: fc.boolean(),
        channel_dim: fc.option(fc.integer({ min: -1, max: 2 }), { nil: undefined }),
        num_bits: fc.option(fc.integer({ min: 2, max: 16 }), { nil: undefined }),
        quantization_type: fc.option(fc.constantFrom('INT8', 'UINT8', 'INT4', 'FLOAT16', 'INT16', 'NONE'), { nil: undefined }),
        symmetric: fc.option(fc.boolean(), { nil: undefined }),
      }, { requiredKeys: ['data'] })
      .map((o) => enc(JSON.stringify(o)));
    const soup = fc.array(fc.constantFrom('{', '}', '[', ']', ',', ':', '"data"', '"num_bits"', '1', '-2.5', 'NaN', 'Infinity', 'true', 'null', '"x"', ' ', '"'), { maxLength: 40 }).map((a) => enc(a.join('')));
    const bytes = fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u));
    const route = fc.constantFrom(
      ['POST', '/instances/default/quantize'], ['POST', '/instances/default/dequantize'], ['POST', '/instances/default/quantize_dequantize'],
      ['POST', '/instances/default/calibrate'], ['POST', '/instances/default/compute_params'], ['POST', '/instances/fuzz-json'],
      ['PUT', '/instances/fuzz-cfg/config'], ['POST', '/instances/fuzz-cfg/parameters'], ['DELETE', '/instances/fuzz-json'],
    ) as fc.Arbitrary<['POST' | 'PUT' | 'DELETE', string]>;
    const type = fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8', 'application/x-npy', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', undefined);
    await t.app.inject({ method: 'POST', url: '/instances/fuzz-cfg', headers: { 'content-type': 'application/json' }, payload: '{}' });
    await fc.assert(
      fc.asyncProperty(route, fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 3, arbitrary: object }, soup, bytes, NPY), type, async ([method, url], payload, contentType) => {
        const r = await t.app.inject({ method, url, headers: contentType === undefined ? {} : { 'content-type': contentType }, payload });
        expectAnswered(seen, r, `${method} ${url} ${contentType} ${payload.toString('latin1').slice(0, 120)}`);
      }),
      { seed: 0xb0d2, numRuns: RUNS },
    );
    expect((await t.app.inject({ method: 'GET', url: '/' })).statusCode).toBe(200);
    expectBothKinds(seen);
  });
});
