import { NdArray } from './nd-array.js';
import { RequestError } from './request-error.js';

// Byte values of the JSON grammar.
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const LBRACKET = 91;
const RBRACKET = 93;
const LBRACE = 123;
const RBRACE = 125;
const MINUS = 45;
const PLUS = 43;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const LOWER_E = 101;
const UPPER_E = 69;

/** 10^0 .. 10^22: every one exact in float64, the range of Clinger's fast path. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
/** Relative error bound (with room to spare) of the 16-19 digit approximation. */
const APPROX_MARGIN = 2 ** -46;
const LATIN1 = new TextDecoder('latin1');
const UTF8 = new TextDecoder();
/** Ranks beyond this are refused: a hostile body of nested brackets must not exhaust the stack. */
export const MAX_RANK = 32;

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function describeByte(buf: Uint8Array, pos: number): string {
  if (pos >= buf.length) return 'the end of the body';
  const c = buf[pos];
  if (c === QUOTE) return 'a string';
  if (c === LBRACE) return 'an object';
  if (c === 116 || c === 102) return 'a boolean';
  if (c === 110) return 'null';
  return `'${String.fromCharCode(c)}'`;
}

function jsonInvalid(pos: number, msg: string): RequestError {
  // FastAPI reports a body that does not parse as 422 json_invalid located at the byte offset.
  return new RequestError(422, [{ loc: ['body', pos], msg: `JSON decode error: ${msg}`, type: 'json_invalid' }]);
}

/**
 * Parses a JSON request body. Values of the top-level keys named in `arrayKeys` are parsed straight
 * into an NdArray of float32 (no JS array per row, no boxed numbers): that is what keeps a
 * 2048x2048 request fast. Each number becomes the float32 nearest its float64 value, exactly as
 * numpy's np.asarray(json_list, dtype=np.float32) rounds it. Those values must be rectangular nested arrays of numbers of any rank, and may use
 * Python's NaN, Infinity and -Infinity tokens (json.dumps writes them), so the engine, not the
 * parser, decides what NaN means. Everything else goes through JSON.parse.
 *
 * @throws RequestError 422 with FastAPI's detail shape: json_invalid for bad syntax, and a
 *   located issue for a ragged, empty-of-numbers or non-numeric array.
 */
export function parseJsonBody(buf: Uint8Array, arrayKeys: ReadonlySet<string>): unknown {
  const scan = scanBody(buf, arrayKeys);
  let step = scan.next();
  while (!step.done) {
    const p = new ArrayParser(buf, step.value.pos, step.value.key);
    const value = p.parse();
    step = scan.next({ value, end: p.pos });
  }
  return step.value;
}

/** Where a body's array value starts, and what parsing it gave. */
export interface ArrayRequest {
  key: string;
  pos: number;
}
export interface ArrayAnswer {
  value: NdArray;
  end: number;
}

/**
 * parseJsonBody with the array values parsed by `parseArray` (which may run elsewhere, e.g. split
 * across worker threads); the rest of the body is read here as parseJsonBody reads it.
 */
export async function parseJsonBodyWith(
  buf: Uint8Array,
  arrayKeys: ReadonlySet<string>,
  parseArray: (req: ArrayRequest) => Promise<ArrayAnswer>,
): Promise<unknown> {
  const scan = scanBody(buf, arrayKeys);
  let step = scan.next();
  while (!step.done) step = scan.next(await parseArray(step.value));
  return step.value;
}

/** The top-level object, key by key; yields at each array key for its value to be parsed. */
function* scanBody(buf: Uint8Array, arrayKeys: ReadonlySet<string>): Generator<ArrayRequest, unknown, ArrayAnswer> {
  let pos = 0;
  while (pos < buf.length && isSpace(buf[pos])) pos++;
  if (arrayKeys.size === 0 || buf[pos] !== LBRACE) return plainParse(buf, 0, buf.length);
  const out: Record<string, unknown> = {};
  pos++;
  pos = skipSpace(buf, pos);
  if (buf[pos] === RBRACE) return trailing(buf, pos + 1, out);
  for (;;) {
    if (buf[pos] !== QUOTE) throw jsonInvalid(pos, `expected a property name in double quotes, got ${describeByte(buf, pos)}`);
    const keyEnd = skipString(buf, pos);
    const key = JSON.parse(UTF8.decode(buf.subarray(pos, keyEnd))) as string;
    pos = skipSpace(buf, keyEnd);
    if (buf[pos] !== COLON) throw jsonInvalid(pos, `expected ':' after a property name, got ${describeByte(buf, pos)}`);
    pos = skipSpace(buf, pos + 1);
    let value: unknown;
    if (arrayKeys.has(key)) {
      const answer = yield { key, pos };
      value = answer.value;
      pos = answer.end;
    } else {
      const end = skipValue(buf, pos);
      value = plainParse(buf, pos, end);
      pos = end;
    }
    // JSON.parse keeps the last duplicate; so do we. defineProperty keeps a "__proto__" key inert.
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    pos = skipSpace(buf, pos);
    if (buf[pos] === COMMA) {
      pos = skipSpace(buf, pos + 1);
      continue;
    }
    if (buf[pos] === RBRACE) return trailing(buf, pos + 1, out);
    throw jsonInvalid(pos, `expected ',' or '}' after a property value, got ${describeByte(buf, pos)}`);
  }
}

/**
 * Positions where an array that starts at `start` as a rank-2 array ('[' '[' number) can be cut
 * into `parts` segments between rows: each is the '[' of a row following "]," near an even share
 * of the bytes. Empty when the array does not look rank-2 or is too short to cut.
 */
export function rowCutPoints(buf: Uint8Array, start: number, parts: number): number[] {
  let p = skipSpace(buf, start + 1);
  if (buf[start] !== LBRACKET || buf[p] !== LBRACKET) return [];
  p = skipSpace(buf, p + 1);
  const c = buf[p];
  if (!((c >= ZERO && c <= NINE) || c === MINUS || c === 78 || c === 73)) return [];
  const cuts: number[] = [];
  const span = buf.length - start;
  for (let k = 1; k < parts; k++) {
    let q = start + Math.floor((span * k) / parts);
    let found = -1;
    for (; q < buf.length; q++) {
      if (buf[q] !== RBRACKET) continue;
      let r = skipSpace(buf, q + 1);
      if (buf[r] !== COMMA) continue;
      r = skipSpace(buf, r + 1);
      if (buf[r] === LBRACKET) {
        found = r;
        break;
      }
    }
    if (found < 0 || (cuts.length > 0 && found <= cuts[cuts.length - 1])) break;
    cuts.push(found);
  }
  return cuts;
}

function trailing(buf: Uint8Array, pos: number, out: unknown): unknown {
  pos = skipSpace(buf, pos);
  if (pos !== buf.length) throw jsonInvalid(pos, `unexpected ${describeByte(buf, pos)} after the JSON value`);
  return out;
}

function plainParse(buf: Uint8Array, start: number, end: number): unknown {
  const text = UTF8.decode(buf.subarray(start, end));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw jsonInvalid(start, (e as Error).message);
  }
}

function skipSpace(buf: Uint8Array, pos: number): number {
  while (pos < buf.length && isSpace(buf[pos])) pos++;
  return pos;
}

/** Position just past the string starting at pos (which holds the opening quote). */
function skipString(buf: Uint8Array, pos: number): number {
  const start = pos;
  pos++;
  while (pos < buf.length) {
    const c = buf[pos];
    if (c === QUOTE) return pos + 1;
    pos += c === BACKSLASH ? 2 : 1;
  }
  throw jsonInvalid(start, 'unterminated string');
}

/** Position just past the value starting at pos; only brackets and strings are tracked here, JSON.parse checks the rest. */
function skipValue(buf: Uint8Array, pos: number): number {
  const start = pos;
  let depth = 0;
  while (pos < buf.length) {
    const c = buf[pos];
    if (c === QUOTE) {
      pos = skipString(buf, pos);
      if (depth === 0) return pos;
      continue;
    }
    if (c === LBRACE || c === LBRACKET) depth++;
    else if (c === RBRACE || c === RBRACKET) {
      if (depth === 0) return pos;
      depth--;
      if (depth === 0) return pos + 1;
    } else if (depth === 0 && (c === COMMA || isSpace(c))) return pos;
    pos++;
  }
  if (depth > 0) throw jsonInvalid(start, 'unterminated array or object');
  return pos;
}

/**
 * Reads nested arrays of numbers into one growing Float32Array in a single pass. The first
 * complete sub-array at each depth fixes that dimension; every later one must match it.
 */
export class ArrayParser {
  pos: number;
  /** float32 straight away: the engine quantizes float32 (as numpy's np.asarray(x, dtype=float32)). */
  private data: Float32Array;
  private n = 0;
  private integral = true;
  private readonly shape: number[] = [];
  private rank = -1;
  /** Index path of the element being read, for error locations. */
  private readonly path: number[] = [];

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly key: string,
  ) {
    this.pos = start;
    // A number takes at least two bytes with its separator.
    this.data = new Float32Array(Math.max(16, Math.min(1 << 22, (buf.length - start) >> 2)));
  }

  parse(): NdArray {
    if (this.buf[this.pos] !== LBRACKET) {
      if (this.pos < this.buf.length && this.isNumberStart(this.buf[this.pos])) {
        // A bare number is a 0-d array, as numpy would take it.
        this.rank = 0;
        this.push(this.readNumber());
        return new NdArray(this.data.slice(0, 1), [], this.integral);
      }
      this.fail('type_error', `expected an array of numbers, got ${describeByte(this.buf, this.pos)}`);
    }
    this.readArray(0);
    const shape = this.shape.slice(0, this.rank);
    return new NdArray(this.data.subarray(0, this.n), shape, this.integral);
  }

  /**
   * Reads one segment of a rank-2-or-more array for a parallel parse: the depth-1 elements that
   * start before `stopAt` (or up to the closing bracket when `last`). The first segment starts at
   * the array's '['; the others at an element's '['. Returns null when the bytes do not have the
   * structure the split assumed (the caller then parses the whole array in one go, which also
   * locates any error exactly).
   */
  parseSegment(first: boolean, stopAt: number, last: boolean): { data: Float32Array; rows: number; rowShape: number[]; integral: boolean; end: number } | null {
    const buf = this.buf;
    let pos = this.pos;
    if (first) {
      if (buf[pos] !== LBRACKET) return null;
      pos = skipSpace(buf, pos + 1);
    }
    let rows = 0;
    this.path.push(0);
    try {
      for (;;) {
        if (buf[pos] !== LBRACKET) return null;
        this.pos = pos;
        this.readArray(1);
        pos = skipSpace(buf, this.pos);
        rows++;
        if (buf[pos] === COMMA) {
          pos = skipSpace(buf, pos + 1);
          if (!last && pos >= stopAt) {
            // The next segment starts exactly here, or the cut was not between rows.
            if (pos !== stopAt) return null;
            break;
          }
          continue;
        }
        if (buf[pos] === RBRACKET && last) {
          pos++;
          break;
        }
        return null;
      }
    } catch {
      return null;
    }
    if (this.rank < 2) return null;
    return { data: this.data.subarray(0, this.n), rows, rowShape: this.shape.slice(1, this.rank), integral: this.integral, end: pos };
  }

  private loc(): (string | number)[] {
    return ['body', this.key, ...this.path];
  }

  private fail(type: string, msg: string): never {
    throw RequestError.validation(this.loc(), msg, type);
  }

  private isNumberStart(c: number): boolean {
    return (c >= ZERO && c <= NINE) || c === MINUS || c === 78 /* N */ || c === 73 /* I */;
  }

  private readArray(depth: number): void {
    if (depth >= MAX_RANK) this.fail('value_error', `arrays nested deeper than ${MAX_RANK} levels are not accepted`);
    const buf = this.buf;
    let pos = skipSpace(buf, this.pos + 1);
    let count = 0;
    this.path.push(0);
    if (buf[pos] === RBRACKET) {
      pos++;
    } else {
      const nested = buf[pos] === LBRACKET;
      if (nested && this.rank >= 0 && this.rank <= depth + 1) this.ragged(depth, 'an array where a number belongs');
      if (!nested && this.rank >= 0 && depth + 1 !== this.rank) this.ragged(depth, 'a number where an array belongs');
      if (!nested) this.rank = depth + 1;
      if (nested) {
        for (;;) {
          if (buf[pos] !== LBRACKET) {
            this.path[depth] = count;
            if (pos < buf.length && this.isNumberStart(buf[pos])) this.ragged(depth, 'a number where an array belongs');
            this.mixed(pos, 'an array');
          }
          this.path[depth] = count;
          this.pos = pos;
          this.readArray(depth + 1);
          pos = this.pos;
          count++;
          while (isSpace(buf[pos])) pos++;
          if (buf[pos] === COMMA) {
            pos++;
            while (isSpace(buf[pos])) pos++;
            continue;
          }
          if (buf[pos] === RBRACKET) {
            pos++;
            break;
          }
          this.separatorError(pos);
        }
      } else {
        // The hot loop: one row of numbers. The index path is only written when an error needs
        // it. Plain decimals (no exponent, at most 18 digits) are read inline; anything else is
        // re-read from its first byte by readNumber, which handles every form.
        let integral = this.integral;
        for (;;) {
          const start = pos;
          let c = buf[pos];
          let neg = false;
          if (c === MINUS) {
            neg = true;
            c = buf[++pos];
          }
          let v = NaN;
          let fast = c >= ZERO && c <= NINE && !(c === ZERO && buf[pos + 1] >= ZERO && buf[pos + 1] <= NINE);
          if (fast) {
            let hi = 0;
            let lo = 0;
            let nd = 0;
            let frac = 0;
            do {
              if (nd < 9) hi = hi * 10 + (c - ZERO);
              else lo = lo * 10 + (c - ZERO);
              nd++;
              c = buf[++pos];
            } while (c >= ZERO && c <= NINE);
            if (c === DOT) {
              c = buf[++pos];
              if (c >= ZERO && c <= NINE) {
                do {
                  if (nd < 9) hi = hi * 10 + (c - ZERO);
                  else lo = lo * 10 + (c - ZERO);
                  nd++;
                  frac++;
                  c = buf[++pos];
                } while (c >= ZERO && c <= NINE);
              } else {
                fast = false;
              }
            }
            if (fast && nd <= 18 && c !== LOWER_E && c !== UPPER_E) {
              const m = nd <= 9 ? hi : hi * POW10[nd - 9] + lo;
              const x = frac === 0 ? m : m / POW10[frac];
              if (nd <= 15) {
                v = x;
              } else {
                const l = Math.fround(x * (1 - APPROX_MARGIN));
                if (l === Math.fround(x * (1 + APPROX_MARGIN))) v = l;
                else fast = false;
              }
              if (neg) v = -v;
            } else {
              fast = false;
            }
          }
          if (!fast) {
            pos = start;
            c = buf[pos];
            if (!((c >= ZERO && c <= NINE) || c === MINUS || c === 78 /* N */ || c === 73 /* I */)) {
              this.path[depth] = count;
              if (c === LBRACKET) this.ragged(depth, 'an array where a number belongs');
              this.mixed(pos, 'a number');
            }
            this.pos = pos;
            v = this.readNumber();
            pos = this.pos;
          }
          if (integral && !Number.isInteger(v)) integral = this.integral = false;
          if (this.n === this.data.length) this.grow();
          this.data[this.n++] = v;
          count++;
          let d = buf[pos];
          if (d === COMMA) {
            d = buf[++pos];
            if (d === 32 || d === 10 || d === 13 || d === 9) {
              while (isSpace(buf[pos])) pos++;
            }
            continue;
          }
          if (d === RBRACKET) {
            pos++;
            break;
          }
          if (isSpace(d)) {
            while (isSpace(buf[pos])) pos++;
            if (buf[pos] === COMMA) {
              pos++;
              while (isSpace(buf[pos])) pos++;
              continue;
            }
            if (buf[pos] === RBRACKET) {
              pos++;
              break;
            }
          }
          this.separatorError(pos);
        }
      }
    }
    this.path.pop();
    if (this.shape[depth] === undefined) {
      this.shape[depth] = count;
      if (count === 0 && this.rank < 0) this.rank = depth + 1;
    } else if (this.shape[depth] !== count) {
      this.ragged(depth, `${count} elements`);
    }
    this.pos = pos;
  }

  private ragged(depth: number, got: string): never {
    const want =
      this.shape[depth] !== undefined ? `${this.shape[depth]} elements like the first one` : `a rectangular array of rank ${this.rank}`;
    this.fail('value_error', `ragged array: expected ${want} at depth ${depth}, got ${got}`);
  }

  private mixed(pos: number, want: string): never {
    this.fail('type_error', `expected ${want}, got ${describeByte(this.buf, pos)}`);
  }

  private push(v: number): void {
    if (this.n === this.data.length) this.grow();
    this.data[this.n++] = v;
  }

  private grow(): void {
    const grown = new Float32Array(this.data.length * 2);
    grown.set(this.data);
    this.data = grown;
  }

  private separatorError(pos: number): never {
    if (pos >= this.buf.length) throw jsonInvalid(pos, 'unterminated array');
    throw jsonInvalid(pos, `expected ',' or ']' in an array, got ${describeByte(this.buf, pos)}`);
  }

  /**
   * One JSON number (or NaN/Infinity/-Infinity). Up to 15 significant digits with a decimal
   * exponent within ±22 is exact as mantissa·10^e (both exact in float64, one rounding): that
   * covers what clients print; anything else falls back to Number() on the text.
   */
  private readNumber(): number {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    let neg = false;
    let c = buf[pos];
    if (c === MINUS) {
      neg = true;
      c = buf[++pos];
    }
    if (c === 73 /* I */) return this.literal(pos, 'Infinity', neg ? -Infinity : Infinity);
    if (!neg && c === 78 /* N */) return this.literal(pos, 'NaN', NaN);
    // Significant digits go into two int32 accumulators of up to 9 digits each (integer
    // arithmetic, no float rounding); past 18 digits the exact conversion takes over.
    let hi = 0;
    let lo = 0;
    let nHi = 0;
    let nLo = 0;
    let dropped = false;
    let exp = 0;
    if (c === ZERO) {
      c = buf[++pos];
      if (c >= ZERO && c <= NINE) this.badNumber(start, pos);
    } else if (c > ZERO && c <= NINE) {
      do {
        if (nHi < 9) {
          hi = hi * 10 + (c - ZERO);
          nHi++;
        } else if (nLo < 9) {
          lo = lo * 10 + (c - ZERO);
          nLo++;
        } else {
          dropped = true;
          exp++;
        }
        c = buf[++pos];
      } while (c >= ZERO && c <= NINE);
    } else {
      this.badNumber(start, pos);
    }
    if (c === DOT) {
      c = buf[++pos];
      if (!(c >= ZERO && c <= NINE)) this.badNumber(start, pos);
      do {
        if (nHi === 0) {
          if (c !== ZERO) {
            hi = c - ZERO;
            nHi = 1;
          }
          exp--;
        } else if (nHi < 9) {
          hi = hi * 10 + (c - ZERO);
          nHi++;
          exp--;
        } else if (nLo < 9) {
          lo = lo * 10 + (c - ZERO);
          nLo++;
          exp--;
        } else {
          dropped = true;
        }
        c = buf[++pos];
      } while (c >= ZERO && c <= NINE);
    }
    if (c === LOWER_E || c === UPPER_E) {
      c = buf[++pos];
      let eneg = false;
      if (c === MINUS || c === PLUS) {
        eneg = c === MINUS;
        c = buf[++pos];
      }
      if (!(c >= ZERO && c <= NINE)) this.badNumber(start, pos);
      let e = 0;
      do {
        if (e < 100000) e = e * 10 + (c - ZERO);
        c = buf[++pos];
      } while (c >= ZERO && c <= NINE);
      exp += eneg ? -e : e;
    }
    this.pos = pos;
    let v: number;
    if (dropped || exp < -22 || exp > 22) {
      v = this.exact(start, neg, pos);
    } else if (nLo === 0 || nHi + nLo <= 15) {
      // Up to 15 digits: the mantissa is exact, so one rounding gives the correctly rounded float64.
      const m = nLo === 0 ? hi : hi * POW10[nLo] + lo;
      v = exp >= 0 ? m * POW10[exp] : m / POW10[-exp];
    } else {
      // 16-18 digits (how json.dumps prints a float32's value): within 2^-50 of the true value.
      // Where every float32 in that interval is the same one, it is the float32 of the correctly
      // rounded float64 too (rounding is monotonic), which is what numpy stores.
      const m = hi * POW10[nLo] + lo;
      const approx = exp >= 0 ? m * POW10[exp] : m / POW10[-exp];
      const l = Math.fround(approx * (1 - APPROX_MARGIN));
      v = l === Math.fround(approx * (1 + APPROX_MARGIN)) ? l : this.exact(start, neg, pos);
    }
    if (this.integral && !Number.isInteger(v)) this.integral = false;
    return neg ? -v : v;
  }

  /** The correctly rounded float64 of the number's text (V8's own conversion). */
  private exact(start: number, neg: boolean, end: number): number {
    return Number(LATIN1.decode(this.buf.subarray(neg ? start + 1 : start, end)));
  }

  private literal(pos: number, word: string, value: number): number {
    for (let i = 0; i < word.length; i++) {
      if (this.buf[pos + i] !== word.charCodeAt(i)) throw jsonInvalid(pos, `unknown literal (expected ${word})`);
    }
    this.pos = pos + word.length;
    this.integral = false;
    return value;
  }

  private badNumber(start: number, pos: number): never {
    throw jsonInvalid(start, `malformed number at byte ${pos}`);
  }
}
