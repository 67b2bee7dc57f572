import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { NdArray } from './nd-array.js';
import { JsonBodyParser, MAX_RANK } from './parse-json-body.js';
import { RequestError } from '../errors/request-error.js';

// Beyond vitest's 5 s default on a 2-core machine: this file is a seeded fuzz of hundreds of generated bodies per property.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const ARRAY_KEYS: ReadonlySet<string> = new Set(['data']);
const UTF8 = new TextEncoder();
const RUNS = 1500;

type Outcome = { value: unknown } | { error: RequestError };

/** Parses `bytes` pushed in the pieces `cuts` makes, as the body arrives from a socket. */
function parseInPieces(bytes: Uint8Array, cuts: number[], expected: boolean): Outcome {
  const p = new JsonBodyParser(ARRAY_KEYS, expected ? { expectedBytes: bytes.length } : {});
  try {
    let at = 0;
    for (const c of [...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
      p.push(bytes.subarray(at, Math.max(at, c)));
      at = Math.max(at, c);
    }
    return { value: p.end() };
  } catch (e) {
    // Anything but the parser's typed 422 (a TypeError, a RangeError, a stack overflow) fails here.
    if (!(e instanceof RequestError)) throw e;
    return { error: e };
  } finally {
    p.release();
  }
}

/** A comparable form: NdArrays by shape, values and integrality. */
function comparable(o: Outcome): unknown {
  if ('error' in o) return { status: o.error.statusCode, detail: o.error.detail };
  return JSON.parse(JSON.stringify(o.value, (_k, v: unknown) => (v instanceof NdArray ? { shape: v.shape, data: Array.from(v.data, String), integral: v.integral } : v)));
}

/** Pieces a JSON body is made of, right and wrong, so random sequences reach the parser's corners. */
const TOKEN = fc.constantFrom(
  '{', '}', '[', ']', ',', ':', ' ', '\n', '"', '\\', '"data"', '"x"', '"validate"', '"da\\u0074a"', '0', '1', '-', '.', 'e', 'E', '+',
  '12', '-3.25', '1e400', '-0', '4.9e-324', '0.12345678901234567890123', 'NaN', 'Infinity', '-Infinity', 'Nan', 'true', 'false', 'null',
  '"é"', '\u00ff', '\u0000', '"\\ud800"', '[[1,2],[3,4]]', '[[1],[2,3]]', '[]', '[[]]',
);
const TOKEN_SOUP = fc.array(TOKEN, { maxLength: 60 }).map((t) => UTF8.encode(t.join('')));
/** The soup inside `{"data": ...}`, where the array reader takes over. */
const DATA_SOUP = TOKEN_SOUP.map((inner) => Uint8Array.from([...UTF8.encode('{"data": ['), ...inner, ...UTF8.encode(']}')]));
const RANDOM_BYTES = fc.uint8Array({ maxLength: 300 });
const ANY_BODY = fc.oneof(TOKEN_SOUP, DATA_SOUP, RANDOM_BYTES);
const CUTS = fc.array(fc.nat(), { maxLength: 6 });

/** A rectangular nested array of `shape` filled from `values`, and the values in C order. */
function nest(shape: number[], values: number[]): { nested: unknown; flat: number[] } {
  const flat: number[] = [];
  let i = 0;
  const build = (d: number): unknown => {
    if (d === shape.length) {
      const v = values[i++ % values.length];
      flat.push(v);
      return v;
    }
    return Array.from({ length: shape[d] }, () => build(d + 1));
  };
  return { nested: build(0), flat };
}

describe('JsonBodyParser on hostile bodies (fast-check, seeded)', () => {
  it(`any bytes, in any pieces: a value or a RequestError 422, the same whatever the pieces (${RUNS} bodies)`, () => {
    let values = 0;
    let errors = 0;
    fc.assert(
      fc.property(ANY_BODY, CUTS, fc.boolean(), (bytes, cuts, expected) => {
        const whole = parseInPieces(bytes, [], expected);
        const pieces = parseInPieces(bytes, cuts, !expected);
        if ('error' in whole) {
          errors++;
          expect(whole.error.statusCode).toBe(422);
        } else values++;
        expect(comparable(pieces)).toEqual(comparable(whole));
      }),
      { seed: 0x5eed1, numRuns: RUNS },
    );
    // Both outcomes are reached, so neither path is left unexercised.
    expect(values).toBeGreaterThan(RUNS / 50);
    expect(errors).toBeGreaterThan(RUNS / 50);
  });

  it(`well-formed bodies of any rank up to ${MAX_RANK}: data is the float32 of each number, other keys as JSON.parse (${RUNS} bodies)`, () => {
    const shape = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 6 });
    const numbers = fc.array(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: -1000, max: 1000 }), fc.float({ noNaN: true, noDefaultInfinity: true }).map(Number)), { minLength: 1, maxLength: 20 });
    const others = fc.dictionary(fc.constantFrom('validate', 'channel_dim', 'layer_name', 'x', '__proto__', 'constructor'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 });
    fc.assert(
      fc.property(shape, numbers, others, CUTS, fc.constantFrom('', ' ', '\n  '), (dims, vals, rest, cuts, space) => {
        const { nested, flat } = nest(dims, vals);
        const text = JSON.stringify({ ...rest, data: nested }, null, space);
        const out = parseInPieces(UTF8.encode(text), cuts, cuts.length % 2 === 0);
        if ('error' in out) throw out.error;
        const body = out.value as Record<string, unknown>;
        const data = body.data as NdArray;
        expect(data.shape).toEqual(dims);
        // JSON.stringify writes -0 as 0; what is sent is what counts.
        expect(Array.from(data.data)).toEqual(flat.map((v) => Math.fround(JSON.parse(JSON.stringify(v)) as number)));
        // Codes written as integers are integral (dequantize takes them).
        if (flat.every((v) => /^-?\d+$/.test(JSON.stringify(v)))) expect(data.integral).toBe(true);
        const { data: _, ...plain } = JSON.parse(text) as Record<string, unknown>;
        const { data: __, ...parsedPlain } = body;
        expect(parsedPlain).toEqual(plain);
        // A "__proto__" key is data, not the object's prototype.
        expect(Object.getPrototypeOf(body)).toBe(Object.prototype);
      }),
      { seed: 0x5eed2, numRuns: RUNS },
    );
  });

  it('nesting past the rank cap is a located 422, never a stack overflow, at any depth up to 100,000', () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX_RANK + 1, max: 100_000 }), fc.boolean(), (depth, closed) => {
        const text = `{"data": ${'['.repeat(depth)}1${closed ? ']'.repeat(depth) : ''}}`;
        const out = parseInPieces(UTF8.encode(text), [], true);
        expect('error' in out && JSON.stringify(out.error.detail)).toMatch(/nested deeper than 32 levels/);
      }),
      { seed: 0x5eed3, numRuns: 50 },
    );
  });
});
