import { describe, expect, it } from 'vitest';
import { QuantError } from '../core/errors.js';
import { MAX_LITERAL_DEPTH, parsePythonLiteral } from './python-literal.js';

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
