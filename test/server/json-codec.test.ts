import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { JsonWriter } from '../../src/server/body/json-writer.js';
import { NdArray } from '../../src/server/body/nd-array.js';
import { parseJsonBody } from '../../src/server/body/parse-json-body.js';
import { RequestError } from '../../src/server/errors/request-error.js';

const enc = new TextEncoder();
const KEYS = new Set(['data']);

function parse(text: string): Record<string, unknown> {
  return parseJsonBody(enc.encode(text), KEYS) as Record<string, unknown>;
}

function issue(text: string): { status: number; loc: unknown[]; msg: string; type: string } {
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(RequestError);
    const r = e as RequestError;
    const d = (r.detail as { loc: unknown[]; msg: string; type: string }[])[0];
    return { status: r.statusCode, loc: d.loc, msg: d.msg, type: d.type };
  }
  throw new Error(`parsed: ${text}`);
}

describe('parseJsonBody', () => {
  it('reads nested arrays of any rank into an NdArray and other keys as JSON', () => {
    const body = parse('{"validate": false, "data": [[[1, 2.5], [3, -4e-2]]], "layer_name": "fc", "x": {"a": [1]}}');
    const a = body.data as NdArray;
    expect(a).toBeInstanceOf(NdArray);
    expect(a.shape).toEqual([1, 2, 2]);
    expect(Array.from(a.data)).toEqual([1, 2.5, 3, Math.fround(-0.04)]);
    expect(a.integral).toBe(false);
    expect(body.validate).toBe(false);
    expect(body.layer_name).toBe('fc');
    expect(body.x).toEqual({ a: [1] });
  });

  it('rounds every number to the float32 of its float64 value, as numpy does', () => {
    const f32 = (text: string) => (JSON.parse(text).data as number[]).map(Math.fround);
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 50 }), (xs) => {
        const text = JSON.stringify({ data: xs });
        expect(Array.from((parse(text).data as NdArray).data)).toEqual(f32(text));
      }),
    );
    // float32 values printed as Python prints them (17 significant digits): the approximate path.
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 50 }), (xs) => {
        const text = JSON.stringify({ data: xs });
        expect(Array.from((parse(text).data as NdArray).data)).toEqual(f32(text));
      }),
    );
    // Decimal strings right at float32 midpoints (16-19 digits): the ambiguity check must fall back.
    const mids: string[] = [];
    for (const f of [1, 1.5, 3.1415927410125732, 1e-3, 123456.7890625]) {
      const a = Math.fround(f);
      const up = new Float32Array([a]);
      new Uint32Array(up.buffer)[0]++;
      mids.push(((a + up[0]) / 2).toPrecision(17), ((a + up[0]) / 2).toPrecision(19));
    }
    const midText = `{"data": [${mids.join(',')}]}`;
    expect(Array.from((parse(midText).data as NdArray).data)).toEqual(f32(midText));
    const tricky = ['0', '-0', '1e22', '1e23', '123456789012345678', '0.1', '2.2250738585072014e-308', '5e-324', '1.7976931348623157e308', '0.30000000000000004', '1E+2', '1.5e-7'];
    const a = parse(`{"data": [${tricky.join(',')}]}`).data as NdArray;
    expect(Array.from(a.data)).toEqual(tricky.map((t) => Math.fround(Number(t))));
    expect(Object.is(a.data[1], -0)).toBe(true);
  });

  it("accepts Python's NaN and Infinity tokens inside the array", () => {
    const a = parse('{"data": [NaN, Infinity, -Infinity, 1]}').data as NdArray;
    expect(Array.from(a.data)).toEqual([NaN, Infinity, -Infinity, 1]);
  });

  it('flags integral arrays (dequantize needs them)', () => {
    expect((parse('{"data": [[1, -2], [3.0, 4e1]]}').data as NdArray).integral).toBe(true);
    expect((parse('{"data": [[1, -2], [3.5, 4]]}').data as NdArray).integral).toBe(false);
  });

  it('keeps empty arrays with their shape', () => {
    expect((parse('{"data": []}').data as NdArray).shape).toEqual([0]);
    expect((parse('{"data": [[], []]}').data as NdArray).shape).toEqual([2, 0]);
  });

  it('locates ragged arrays and non-numbers', () => {
    const r = issue('{"data": [[1, 2], [3]]}');
    expect(r.status).toBe(422);
    expect(r.loc).toEqual(['body', 'data', 1]);
    expect(r.msg).toMatch(/ragged.*expected 2 elements.*got 1/);
    expect(issue('{"data": [[1, 2], 3]}').msg).toMatch(/ragged/);
    expect(issue('{"data": [1, [2]]}').msg).toMatch(/ragged/);
    const s = issue('{"data": [[1, "a"]]}');
    expect(s.loc).toEqual(['body', 'data', 0, 1]);
    expect(s.msg).toBe('expected a number, got a string');
    expect(issue('{"data": "abc"}').type).toBe('type_error');
    expect(issue('{"data": [null]}').msg).toBe('expected a number, got null');
    expect(issue(`{"data": ${'['.repeat(100)}1${']'.repeat(100)}}`).msg).toMatch(/deeper than 32/);
  });

  it('answers bad syntax with json_invalid', () => {
    for (const bad of ['{"data": [1, 2', '{"data": [1 2]}', '{"data": [01]}', '{"data": [1.]}', '{"data": [-]}', '{"data": [1]', '{"data": [1]} x', '{data: [1]}', '{"a": tru, "data": [1]}', '{"data": [Nan]}']) {
      const r = issue(bad);
      expect(r.status, bad).toBe(422);
      expect(r.type, bad).toBe('json_invalid');
      expect(r.loc[0]).toBe('body');
    }
  });

  it('parses bodies without array keys with JSON.parse', () => {
    expect(parseJsonBody(enc.encode('[1, 2]'), KEYS)).toEqual([1, 2]);
    expect(parseJsonBody(enc.encode('{"data": [1]}'), new Set())).toEqual({ data: [1] });
    expect(parse('{}')).toEqual({});
  });
});

describe('JsonWriter', () => {
  it('writes nested int and float arrays that JSON.parse reads back', () => {
    const w = new JsonWriter(8);
    w.raw('{"a":').array(Int8Array.from([-128, 0, 127, 5, -7, 10]), [2, 3]).raw(',"b":');
    w.array(Float32Array.from([0.1, -2.5, 3]), [3]).raw(',"c":').array([Infinity], [1]).raw(',"d":').value({ x: 'y' }).raw('}');
    const back = JSON.parse(w.finish().toString());
    expect(back.a).toEqual([[-128, 0, 127], [5, -7, 10]]);
    expect(back.b).toEqual([Math.fround(0.1), -2.5, 3]);
    expect(back.c).toEqual([null]);
    expect(back.d).toEqual({ x: 'y' });
  });

  it('writes every code container through its digit table', () => {
    for (const a of [Int8Array.from([-128, 127, 0]), Uint8Array.from([0, 255, 9]), Int16Array.from([-32768, 32767, -1]), Uint16Array.from([0, 65535, 10])]) {
      expect(JSON.parse(new JsonWriter().array(a, [1, 3]).finish().toString())).toEqual([Array.from(a)]);
    }
  });

  it('round-trips random integer tensors of any rank through the parser', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }), fc.integer(), (shape, seed) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = Int32Array.from({ length: n }, (_, i) => ((seed + i * 2654435761) | 0) >> 8);
        const text = new JsonWriter().raw('{"data":').array(data, shape).raw('}').finish();
        const a = parseJsonBody(text, KEYS) as { data: NdArray };
        expect(a.data.shape).toEqual(shape);
        expect(Array.from(a.data.data)).toEqual(Array.from(data));
      }),
    );
  });
});

/** Nested JS arrays of `data` in C order; JSON.stringify of these is the text JsonWriter must write. */
function nest(data: ArrayLike<number>, shape: readonly number[]): unknown {
  if (shape.length === 0) return data[0];
  let i = 0;
  const level = (d: number): unknown[] => Array.from({ length: shape[d] }, () => (d === shape.length - 1 ? data[i++] : level(d + 1)));
  return level(0);
}

const CONTAINERS = [Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Float32Array, Float64Array, Array] as const;

describe('JsonWriter: the text of JSON.stringify, whole or in slices', () => {
  const values = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
    fc.integer({ min: -300, max: 300 }),
    fc.double(),
    fc.float(),
    fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, 2 ** 31 - 1, -(2 ** 31) + 1, 1e21, 5e-324, 2 ** 53),
  );
  const shapes = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 5 });

  it('writes every container, shape (zero-size and rank 0 included), NaN and Infinity as JSON.stringify does, for every slice size', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CONTAINERS), shapes, fc.array(values, { minLength: 1, maxLength: 1024 }), fc.integer({ min: 1, max: 9 }), (Container, shape, pool, slice) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const source = Array.from({ length: Math.max(n, 1) }, (_, i) => pool[i % pool.length]);
        const data: ArrayLike<number> = Container === Array ? source : (Container as { from(a: number[]): ArrayLike<number> }).from(source);
        const expected = JSON.stringify(nest(data, shape));
        expect(new JsonWriter(8).array(data, shape).finish().toString('latin1')).toBe(expected);
        const w = new JsonWriter(8).raw('{"data":');
        let pauses = 0;
        for (const _ of w.arraySlices(data, shape, slice)) pauses++;
        expect(w.raw('}').finish().toString('latin1')).toBe(`{"data":${expected}}`);
        // It pauses after each slice but the last; code containers go through 16 times as many per slice.
        const table = data instanceof Int8Array || data instanceof Uint8Array || data instanceof Int16Array || data instanceof Uint16Array;
        if (n > 0) expect(pauses).toBe(Math.ceil(n / (table ? 16 * slice : slice)) - 1);
      }),
      { seed: 20261207, numRuns: 400 },
    );
  });

  it('writes ranks far past any stack depth', () => {
    const shape = new Array<number>(20000).fill(1);
    const text = new JsonWriter().array(Float32Array.of(1.5), shape).finish().toString();
    expect(text).toBe(`${'['.repeat(20000)}1.5${']'.repeat(20000)}`);
  });

  it('writes long rows and many short rows in slices of the asked size', () => {
    for (const shape of [[1, 30000], [30000, 1], [75, 2, 200]]) {
      const data = Float32Array.from({ length: 30000 }, (_, i) => Math.sin(i) * 1000);
      const w = new JsonWriter();
      let pauses = 0;
      for (const _ of w.arraySlices(data, shape, 4096)) pauses++;
      expect(pauses).toBe(Math.ceil(30000 / 4096) - 1);
      expect(w.finish().toString()).toBe(JSON.stringify(nest(data, shape)));
    }
  });
});

