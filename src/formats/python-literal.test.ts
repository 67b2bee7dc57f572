import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FUZZ, valueOrFileError } from '../../test/helpers/fuzz.js';
import { QuantError } from '../core/errors.js';
import { MAX_LITERAL_DEPTH, parsePythonLiteral, quotePython, type PyValue } from './python-literal.js';

describe('parsePythonLiteral', () => {
  it('reads the literals .npy headers are made of', () => {
    expect(parsePythonLiteral("  {'a': (1, 2,), \"b\": [True, False, None], 'c': {}, 'd': -7L, 'e': ()}\n  ")).toEqual({
      kind: 'dict',
      entries: new Map<string, unknown>([
        ['a', { kind: 'tuple', items: [{ kind: 'int', value: 1, text: '1' }, { kind: 'int', value: 2, text: '2' }] }],
        ['b', { kind: 'list', items: [{ kind: 'bool', value: true }, { kind: 'bool', value: false }, { kind: 'none' }] }],
        ['c', { kind: 'dict', entries: new Map() }],
        ['d', { kind: 'int', value: -7, text: '-7' }],
        ['e', { kind: 'tuple', items: [] }],
      ]),
    });
  });

  it('refuses nesting past MAX_LITERAL_DEPTH with MALFORMED_FILE instead of overflowing the stack', () => {
    const nested = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    expect(parsePythonLiteral(nested(MAX_LITERAL_DEPTH)).kind).toBe('list');
    expect(() => parsePythonLiteral(nested(MAX_LITERAL_DEPTH + 1))).toThrow(`bad .npy header dict at offset ${MAX_LITERAL_DEPTH}: expected at most ${MAX_LITERAL_DEPTH} nested dicts, tuples and lists`);
    const crafted = `{'shape': ${'('.repeat(200_000)}`;
    expect(() => parsePythonLiteral(crafted)).toThrow(QuantError);
  });

  it('decodes string escapes', () => {
    expect(parsePythonLiteral(String.raw`'a\'b\"c\\d\n\t\x41\u00e9'`)).toEqual({ kind: 'str', value: 'a\'b"c\\d\n\tAé' });
    expect(parsePythonLiteral(`"it's"`)).toEqual({ kind: 'str', value: "it's" });
  });

  it('keeps integers too large for a double recognisable as such', () => {
    const v = parsePythonLiteral('123456789012345678901234567890');
    expect(v).toMatchObject({ kind: 'int', text: '123456789012345678901234567890' });
    expect(Number.isSafeInteger((v as { value: number }).value)).toBe(false);
  });

  const bad: [string, RegExp][] = [
    ['', /offset 0: expected a string, integer.*found end of header/],
    ["'abc", /expected closing '/],
    [String.raw`'\q'`, /a known string escape/],
    [String.raw`'\x4'`, /2 hex digits after \\x/],
    ['(1 2)', /expected ',' or '\)'/],
    ['[1,, 2]', /expected a string, integer/],
    ['{1: 2}', /a quoted dict key/],
    ["{'a' 2}", /expected ':'/],
    ["{'a': 1, 'a': 2}", /duplicate 'a'/],
    ['1.5', /expected a string, integer/],
    ['0x10', /expected a string, integer/],
    ['Truthy', /expected a string, integer/],
    ['(1)', /',' after the single item of a tuple/],
    ['1 2', /offset 2: expected only whitespace/],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      let err: unknown;
      try {
        parsePythonLiteral(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(QuantError);
      expect((err as QuantError).code).toBe('MALFORMED_FILE');
      expect((err as QuantError).message).toMatch(message);
    });
  }
});

describe('quotePython', () => {
  it('writes strings on one line as Python repr does, and parsePythonLiteral reads them back', () => {
    expect(quotePython("<f\n4'\\")).toBe(String.raw`'<f\n4\'\\'`);
    expect(quotePython('\x00\x7f\u2028é')).toBe(String.raw`'\x00\x7f\u2028é'`);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const q = quotePython(s);
        expect(q).not.toMatch(/[\n\r\u2028\u2029]/);
        expect(parsePythonLiteral(q)).toEqual({ kind: 'str', value: s });
      }),
      FUZZ,
    );
  });
});

/** Python source of a value (what a header writer would write), with arbitrary spacing. */
function pySource(v: PyValue, space: string): string {
  switch (v.kind) {
    case 'str':
      return quotePython(v.value);
    case 'int':
      return v.text;
    case 'bool':
      return v.value ? 'True' : 'False';
    case 'none':
      return 'None';
    case 'tuple':
      return `(${v.items.map((x) => pySource(x, space)).join(`,${space}`)}${v.items.length === 1 ? ',' : ''})`;
    case 'list':
      return `[${v.items.map((x) => pySource(x, space)).join(`,${space}`)}]`;
    case 'dict':
      return `{${[...v.entries].map(([k, x]) => `${quotePython(k)}:${space}${pySource(x, space)}`).join(`,${space}`)}}`;
  }
}

const { value: pyValue } = fc.letrec<{ value: PyValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'binary', maxLength: 8 }).map((value): PyValue => ({ kind: 'str', value })),
    fc.integer({ min: -1e9, max: 1e9 }).map((n): PyValue => ({ kind: 'int', value: n, text: String(n) })),
    fc.boolean().map((value): PyValue => ({ kind: 'bool', value })),
    fc.constant<PyValue>({ kind: 'none' }),
    fc.array(tie('value'), { maxLength: 4 }).map((items): PyValue => ({ kind: 'tuple', items })),
    fc.array(tie('value'), { maxLength: 4 }).map((items): PyValue => ({ kind: 'list', items })),
    fc
      .uniqueArray(fc.tuple(fc.string({ unit: 'binary', maxLength: 6 }), tie('value')), { selector: ([k]) => k, maxLength: 4 })
      .map((entries): PyValue => ({ kind: 'dict', entries: new Map(entries) })),
  ),
}));

describe('parsePythonLiteral on any text', () => {
  it(`reads back any literal written with any spacing (${FUZZ.numRuns} runs)`, () => {
    fc.assert(
      fc.property(pyValue, fc.constantFrom('', ' ', '\n\t ', '  '), (v, space) => {
        expect(parsePythonLiteral(`${space}${pySource(v, space)}${space}`)).toEqual(v);
      }),
      FUZZ,
    );
  });

  it(`any text, or a literal cut or changed anywhere, gives a value or a one-line MALFORMED_FILE (${2 * FUZZ.numRuns} runs)`, () => {
    const tokens = fc.constantFrom('(', ')', '[', ']', '{', '}', ',', ':', "'", '"', '\\', '\\x', '\\u', 'L', '-', '1', '99999999999999999999999', 'True', 'None', ' ', '\n', '__proto__', 'é', '\ud800');
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.array(tokens, { maxLength: 60 }).map((t) => t.join('')),
      fc.tuple(pyValue, fc.nat(), fc.array(tokens, { maxLength: 3 })).map(([v, at, ins]) => {
        const src = pySource(v, ' ');
        const k = at % (src.length + 1);
        return src.slice(0, k) + ins.join('') + src.slice(k + (at & 1));
      }),
    );
    fc.assert(
      fc.property(text, (t) => {
        valueOrFileError(() => parsePythonLiteral(t), ['MALFORMED_FILE']);
      }),
      { ...FUZZ, numRuns: 2 * FUZZ.numRuns },
    );
  });
});

