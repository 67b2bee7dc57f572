import { QuantError } from '../core/errors.js';

/** A value of the small subset of Python literal syntax .npy headers are written in. */
export type PyValue =
  | { readonly kind: 'str'; readonly value: string }
  | { readonly kind: 'int'; readonly value: number; readonly text: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'none' }
  | { readonly kind: 'tuple'; readonly items: readonly PyValue[] }
  | { readonly kind: 'list'; readonly items: readonly PyValue[] }
  | { readonly kind: 'dict'; readonly entries: ReadonlyMap<string, PyValue> };

/**
 * Containers nested deeper than this are refused: a header's dtype and shape nest a few levels,
 * and recursion on a crafted header of thousands of '(' would overflow the stack (a RangeError).
 */
export const MAX_LITERAL_DEPTH = 64;

const ESCAPES: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t', r: '\r', '0': '\0' };

/**
 * A string as Python's repr writes it, on one line: in single quotes, with quotes, backslashes and
 * control characters escaped. Messages quote header text this way, so a crafted descr or key
 * holding a newline cannot split the CLI's one-line error.
 * Example: quotePython("<f\n4") → '<f\n4' (a backslash and an n, not a line break).
 */
export function quotePython(s: string): string {
  let out = "'";
  for (const c of s) {
    const code = c.codePointAt(0)!;
    if (c === "'" || c === '\\') out += `\\${c}`;
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code === 0x2028 || code === 0x2029) out += `\\u${code.toString(16)}`;
    else out += c;
  }
  return `${out}'`;
}

/**
 * Parses one Python literal (what `ast.literal_eval` accepts for a .npy header: dicts with string
 * keys, strings, integers with an optional Python 2 'L', True/False/None, tuples and lists with
 * optional trailing commas), followed only by whitespace. Anything else is MALFORMED_FILE naming
 * the offset and what was expected. Rejects duplicate dict keys, which Python silently merges.
 */
export function parsePythonLiteral(text: string): PyValue {
  let pos = 0;

  const fail = (expected: string): never => {
    const found = pos < text.length ? JSON.stringify(text.slice(pos, pos + 12)) : 'end of header';
    throw new QuantError('MALFORMED_FILE', `bad .npy header dict at offset ${pos}: expected ${expected}, found ${found}`, {
      details: { offset: pos, header: text },
    });
  };
  const skipSpace = (): void => {
    while (pos < text.length && (text[pos] === ' ' || text[pos] === '\n' || text[pos] === '\t' || text[pos] === '\r')) pos++;
  };

  const parseString = (): PyValue => {
    const quote = text[pos++];
    let out = '';
    for (;;) {
      if (pos >= text.length || text[pos] === '\n') fail(`closing ${quote}`);
      const c = text[pos++];
      if (c === quote) return { kind: 'str', value: out };
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text[pos++];
      if (e !== undefined && e in ESCAPES) out += ESCAPES[e];
      else if (e === 'x' || e === 'u') {
        const n = e === 'x' ? 2 : 4;
        const hex = text.slice(pos, pos + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) fail(`${n} hex digits after \\${e}`);
        out += String.fromCharCode(parseInt(hex, 16));
        pos += n;
      } else {
        pos--;
        fail('a known string escape');
      }
    }
  };

  const parseSequence = (close: ')' | ']'): PyValue[] => {
    const items: PyValue[] = [];
    let sawComma = false;
    for (;;) {
      skipSpace();
      if (text[pos] === close) {
        pos++;
        // (x) is just x in Python, not a tuple: only (x,) is a 1-tuple.
        if (close === ')' && items.length === 1 && !sawComma) fail("',' after the single item of a tuple");
        return items;
      }
      items.push(parseValue());
      skipSpace();
      if (text[pos] === ',') {
        pos++;
        sawComma = true;
      } else if (text[pos] !== close) fail(`',' or '${close}'`);
    }
  };

  const parseDict = (): PyValue => {
    const entries = new Map<string, PyValue>();
    for (;;) {
      skipSpace();
      if (text[pos] === '}') {
        pos++;
        return { kind: 'dict', entries };
      }
      if (text[pos] !== "'" && text[pos] !== '"') fail('a quoted dict key or }');
      const keyAt = pos;
      const key = (parseString() as { value: string }).value;
      if (entries.has(key)) {
        pos = keyAt;
        fail(`a new key (duplicate '${key}')`);
      }
      skipSpace();
      if (text[pos] !== ':') fail("':'");
      pos++;
      skipSpace();
      entries.set(key, parseValue());
      skipSpace();
      if (text[pos] === ',') pos++;
      else if (text[pos] !== '}') fail("',' or '}'");
    }
  };

  let depth = 0;
  const parseContainer = (c: '{' | '(' | '['): PyValue => {
    if (depth === MAX_LITERAL_DEPTH) fail(`at most ${MAX_LITERAL_DEPTH} nested dicts, tuples and lists`);
    depth++;
    pos++;
    const v: PyValue = c === '{' ? parseDict() : c === '(' ? { kind: 'tuple', items: parseSequence(')') } : { kind: 'list', items: parseSequence(']') };
    depth--;
    return v;
  };

  const parseValue = (): PyValue => {
    skipSpace();
    const c = text[pos];
    if (c === "'" || c === '"') return parseString();
    if (c === '{' || c === '(' || c === '[') return parseContainer(c);
    const word = /^(?:True|False|None)\b/.exec(text.slice(pos, pos + 6));
    if (word) {
      pos += word[0].length;
      return word[0] === 'None' ? { kind: 'none' } : { kind: 'bool', value: word[0] === 'True' };
    }
    const num = /^[-+]?\d+L?(?![\w.])/.exec(text.slice(pos, pos + 40));
    if (num) {
      pos += num[0].length;
      const digits = num[0].replace(/L$/, '');
      return { kind: 'int', value: Number(digits), text: digits };
    }
    return fail('a string, integer, True, False, None, tuple, list or dict');
  };

  const value = parseValue();
  skipSpace();
  if (pos !== text.length) fail('only whitespace after the literal');
  return value;
}
