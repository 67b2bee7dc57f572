import { NdArray } from './nd-array.js';
import { RequestError } from '../errors/request-error.js';

// Byte values of the JSON grammar.
const QUOTE = 34;
const COMMA = 44;
const LBRACKET = 91;
const RBRACKET = 93;
const LBRACE = 123;
const MINUS = 45;
const PLUS = 43;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const LOWER_E = 101;
const UPPER_E = 69;

/** 10^0 .. 10^22: every one exact in float64, the range of Clinger's fast path. */
const POW10 = Float64Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
/**
 * Relative error bound, with room to spare, of a decimal of up to MAX_FAST_DIGITS digits read by
 * float64 multiply-adds (two roundings of 2^-53 per step past 2^53) and one division.
 */
const APPROX_MARGIN = 2 ** -46;
/** Beyond this many significant digits the approximation's error bound no longer holds: exact conversion. */
const MAX_FAST_DIGITS = 30;
const LATIN1 = new TextDecoder('latin1');
/** Ranks beyond this are refused: a hostile body of nested brackets must not exhaust the stack or the index path. */
export const MAX_RANK = 32;
/**
 * Bytes the owner of the buffer keeps readable past the sentinel: the scanner reads digits four
 * at a time and may look up to 3 bytes beyond the sentinel before it sees it.
 */
export const SCAN_SLACK = 8;

/** Thrown inside the parser when a token runs into the end of the bytes received so far. */
const NEED_MORE = Symbol('need more bytes');

/** A Float32Array of n elements; the arrays may live anywhere (e.g. in WebAssembly memory). */
export type Float32Alloc = (n: number) => Float32Array;

const heapFloat32: Float32Alloc = (n) => new Float32Array(n);

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** 'a string', 'null', "'x'": what a byte at pos starts, for messages. */
export function describeByte(buf: Uint8Array, pos: number, end: number): string {
  if (pos >= end) return 'the end of the body';
  const c = buf[pos];
  if (c === QUOTE) return 'a string';
  if (c === LBRACE) return 'an object';
  if (c === 116 || c === 102) return 'a boolean';
  if (c === 110) return 'null';
  return `'${String.fromCharCode(c)}'`;
}

export function jsonInvalid(pos: number, msg: string): RequestError {
  // FastAPI reports a body that does not parse as 422 json_invalid located at the byte offset.
  return new RequestError(422, [{ loc: ['body', pos], msg: `JSON decode error: ${msg}`, type: 'json_invalid' }]);
}

/** Where the parser expects to be next. */
const enum Expect {
  /** Just after '[': an element or ']'. */
  ElementOrClose,
  /** After ',': an element. */
  Element,
  /** After an element: ',' or ']'. */
  Separator,
}

/**
 * Reads nested arrays of numbers (any rank, rectangular) into one Float32Array, resumably: the
 * body may arrive in pieces, and `run(limit)` reads as far as the bytes `[0, limit)` allow, then
 * stops at the start of the first token it cannot finish (a number cut by the end of the bytes)
 * and continues from there when called with a larger limit. State is an explicit stack of element
 * counts, so nothing is re-read and no recursion is needed.
 *
 * Each number becomes Math.fround of its correctly rounded float64 value (JSON.parse, then
 * numpy's float32 cast): up to 15 significant digits exactly as mantissa / 10^k (both exact, one
 * rounding); 16-30 digits, how json.dumps prints a float32's value, by an approximation within
 * 2^-47 whose float32 is accepted only where the whole error interval rounds to one float32
 * (rounding is monotonic, so the float32 of the correctly rounded float64 is that one too);
 * everything else (exponents, near-midpoint values, more digits) by V8's exact conversion.
 *
 * The first complete sub-array at each depth fixes that dimension; every later one must match.
 *
 * The buffer's owner must keep `buf[limit]` a sentinel byte (0) and SCAN_SLACK readable bytes
 * after it: digit loops stop at the sentinel without a bounds test per byte.
 */
export class NdArrayParser {
  /** Next byte to read; after completion, just past the closing ']'. */
  pos: number;
  private readonly start: number;
  private buf: Uint8Array;
  private view: DataView;
  private data: Float32Array;
  private n = 0;
  private integral = true;
  /** Elements completed so far in each open array: also the index path of the element being read. */
  private readonly counts = new Int32Array(MAX_RANK + 1);
  /** Length of each dimension, -1 until the first sub-array at that depth closes. */
  private readonly shape = new Int32Array(MAX_RANK + 1).fill(-1);
  private rank = -1;
  /** Depth of the innermost open array; -1 before the first '['. */
  private depth = -1;
  private expect = Expect.Element;
  private done = false;
  private resized = false;
  private limit = 0;
  private final = false;

  /**
   * @param start where the value starts in buf
   * @param key the body key, for error locations
   * @param expectedEnd the body's length when known (sizes the output once the first row is read)
   * @param alloc where the output array is allocated
   */
  constructor(
    buf: Uint8Array,
    start: number,
    private readonly key: string,
    private readonly expectedEnd = 0,
    private readonly alloc: Float32Alloc = heapFloat32,
  ) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.start = start;
    // A number takes at least two bytes with its separator; json.dumps' float32 values about 20.
    // The first row then sizes the rest (sizeFromFirstRow).
    const guess = expectedEnd > start ? (expectedEnd - start) >> 4 : 0;
    this.data = alloc(Math.max(16, Math.min(1 << 16, guess)));
  }

  /** The buffer moved (its owner grew it); positions stay the same. */
  rebase(buf: Uint8Array): void {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /**
   * Reads on up to `limit`. Returns true once the array is complete (pos is then just past it),
   * false when it needs bytes beyond `limit`; with `final` (no more bytes will come) an incomplete
   * array is an error.
   *
   * @throws RequestError 422: json_invalid for bad syntax, a located issue for a ragged,
   *   non-numeric or too deeply nested array.
   */
  run(limit: number, final: boolean): boolean {
    if (this.done) return true;
    this.limit = limit;
    this.final = final;
    try {
      this.step();
    } catch (e) {
      if (e === NEED_MORE) return false;
      throw e;
    }
    return this.done;
  }

  /** The array read (after run returned true). */
  result(): NdArray {
    if (this.rank === 0) return new NdArray(this.data.subarray(0, 1), [], this.integral);
    return new NdArray(this.data.subarray(0, this.n), Array.from(this.shape.subarray(0, this.rank)), this.integral);
  }

  private needMore(): never {
    throw NEED_MORE;
  }

  private step(): void {
    const buf = this.buf;
    const limit = this.limit;
    let pos = this.pos;
    for (;;) {
      let c = buf[pos];
      while (isSpace(c)) c = buf[++pos];
      this.pos = pos;
      if (pos >= limit) {
        if (!this.final) this.needMore();
        if (this.depth < 0) this.fail('type_error', `expected an array of numbers, got ${describeByte(buf, pos, limit)}`);
        throw jsonInvalid(pos, 'unterminated array');
      }
      const depth = this.depth;
      if (this.expect === Expect.Separator) {
        if (c === COMMA) {
          this.expect = Expect.Element;
          pos++;
          continue;
        }
        if (c !== RBRACKET) throw jsonInvalid(pos, `expected ',' or ']' in an array, got ${describeByte(buf, pos, limit)}`);
        pos++;
        this.pos = pos;
        this.close(depth);
        if (this.done) return;
        continue;
      }
      if (c === RBRACKET && this.expect === Expect.ElementOrClose) {
        pos++;
        this.pos = pos;
        this.close(depth);
        if (this.done) return;
        continue;
      }
      if (c === LBRACKET) {
        if (depth >= 0 && this.rank >= 0 && this.rank <= depth + 1) this.ragged(depth, 'an array where a number belongs');
        if (depth + 1 >= MAX_RANK) this.fail('value_error', `arrays nested deeper than ${MAX_RANK} levels are not accepted`);
        this.depth = depth + 1;
        this.counts[depth + 1] = 0;
        this.expect = Expect.ElementOrClose;
        pos++;
        continue;
      }
      const numberStart = (c >= ZERO && c <= NINE) || c === MINUS || c === 78 /* N */ || c === 73; /* I */
      if (depth < 0) {
        if (!numberStart) this.fail('type_error', `expected an array of numbers, got ${describeByte(buf, pos, limit)}`);
        // A bare number is a 0-d array, as numpy would take it.
        const before = this.integral;
        const v = this.readNumber(pos);
        if (this.pos >= limit && !this.final) {
          // A number cut at the chunk's end is read again whole: its prefix ("1.5" of "1.5e3") must not decide integrality.
          this.integral = before;
          this.pos = pos;
          this.needMore();
        }
        this.rank = 0;
        this.data[0] = v;
        this.n = 1;
        this.done = true;
        return;
      }
      if (!numberStart) this.mixed(pos, this.rank > depth + 1 ? 'an array' : 'a number');
      if (this.rank >= 0 && this.rank !== depth + 1) this.ragged(depth, 'a number where an array belongs');
      this.rank = depth + 1;
      pos = this.readRow(pos);
    }
  }

  /** Closes the array at `depth` (its ']' was just read). */
  private close(depth: number): void {
    const count = this.counts[depth];
    const want = this.shape[depth];
    if (want < 0) {
      this.shape[depth] = count;
      if (count === 0 && this.rank < 0) this.rank = depth + 1;
      if (depth === this.rank - 1 && !this.resized) this.sizeFromFirstRow();
    } else if (want !== count) {
      this.ragged(depth, `${count} elements`, depth - 1);
    }
    this.depth = depth - 1;
    if (depth === 0) {
      this.done = true;
      return;
    }
    this.counts[depth - 1]++;
    this.expect = Expect.Separator;
  }

  /** Once one row is read, its bytes per element size the whole output (one allocation instead of doublings). */
  private sizeFromFirstRow(): void {
    this.resized = true;
    const used = this.pos - this.start;
    if (this.expectedEnd <= this.pos || this.n === 0 || used <= 0) return;
    const estimate = Math.ceil((this.n * (this.expectedEnd - this.start)) / used) + 64;
    // Rows of similar width: a few percent of slack covers wider digits further on.
    const want = Math.min(estimate + (estimate >> 5), this.expectedEnd);
    if (want > this.data.length) this.resize(want);
  }

  private resize(capacity: number): void {
    const grown = this.alloc(capacity);
    grown.set(this.data.subarray(0, this.n));
    this.data = grown;
  }

  /**
   * The hot loop: numbers of one innermost array, from `pos` (a number's first byte) to its ']'
   * or to the first thing that is not "number, number". Returns where it stopped, with the state
   * set for step() to go on (or to report what it found).
   */
  private readRow(pos: number): number {
    const buf = this.buf;
    const view = this.view;
    const limit = this.limit;
    const final = this.final;
    const depth = this.depth;
    let data = this.data;
    let n = this.n;
    let count = this.counts[depth];
    let integral = this.integral;
    for (;;) {
      const start = pos;
      let c = buf[pos];
      const neg = c === MINUS;
      if (neg) c = buf[++pos];
      let v = 0;
      let exact = c >= ZERO && c <= NINE && !(c === ZERO && buf[pos + 1] >= ZERO && buf[pos + 1] <= NINE);
      if (exact) {
        let m = 0;
        do {
          m = m * 10 + (c - ZERO);
          c = buf[++pos];
        } while (c >= ZERO && c <= NINE);
        let nd = pos - start - (neg ? 1 : 0);
        let frac = 0;
        if (c === DOT) {
          const f0 = ++pos;
          // Four digits per step (SWAR): the word is all digits when every byte is 0x30..0x39.
          for (;;) {
            const w = view.getInt32(pos, true);
            if (((w & 0xf0f0f0f0) | (((w + 0x06060606) & 0xf0f0f0f0) >>> 4)) !== 0x33333333) break;
            const d = w - 0x30303030;
            const t = (d * 10 + (d >>> 8)) & 0x00ff00ff;
            m = m * 10000 + ((t & 0xff) * 100 + (t >>> 16));
            pos += 4;
          }
          c = buf[pos];
          while (c >= ZERO && c <= NINE) {
            m = m * 10 + (c - ZERO);
            c = buf[++pos];
          }
          frac = pos - f0;
          nd += frac;
          if (frac === 0) exact = false;
        }
        if (exact && c !== LOWER_E && c !== UPPER_E && nd <= MAX_FAST_DIGITS && frac <= 22) {
          if (pos >= limit && !final) {
            // The number may go on in bytes not received yet.
            this.n = n;
            this.counts[depth] = count;
            this.integral = integral;
            this.pos = start;
            this.needMore();
          }
          v = m / POW10[frac];
          if (nd > 15) {
            const l = Math.fround(v * (1 - APPROX_MARGIN));
            if (l === Math.fround(v * (1 + APPROX_MARGIN))) v = l;
            else v = Number(LATIN1.decode(buf.subarray(neg ? start + 1 : start, pos)));
          }
          if (neg) v = -v;
        } else {
          exact = false;
        }
      }
      if (!exact) {
        this.n = n;
        this.pos = start;
        this.counts[depth] = count;
        this.integral = integral;
        v = this.readNumber(start);
        pos = this.pos;
        if (pos >= limit && !final) {
          // Read again whole with the next chunk: the prefix's integrality is not the number's.
          this.integral = integral;
          this.pos = start;
          this.needMore();
        }
        integral = this.integral;
      }
      if (integral && !Number.isInteger(v)) integral = false;
      if (n === data.length) {
        this.n = n;
        this.resize(Math.max(16, n * 2));
        data = this.data;
      }
      data[n++] = v;
      count++;
      c = buf[pos];
      if (c === COMMA) {
        c = buf[++pos];
        while (isSpace(c)) c = buf[++pos];
        if ((c >= ZERO && c <= NINE) || c === MINUS) continue;
        this.expect = Expect.Element;
        break;
      }
      this.expect = Expect.Separator;
      break;
    }
    this.n = n;
    this.counts[depth] = count;
    this.integral = integral;
    this.pos = pos;
    return pos;
  }

  private loc(depth: number): (string | number)[] {
    return ['body', this.key, ...Array.from(this.counts.subarray(0, depth + 1))];
  }

  private fail(type: string, msg: string, depth = this.depth): never {
    throw RequestError.validation(this.loc(depth), msg, type);
  }

  /** locDepth: how much of the index path locates the problem (the parent array for a wrong length). */
  private ragged(depth: number, got: string, locDepth = depth): never {
    const want = this.shape[depth] >= 0 ? `${this.shape[depth]} elements like the first one` : `a rectangular array of rank ${this.rank}`;
    this.fail('value_error', `ragged array: expected ${want} at depth ${depth}, got ${got}`, locDepth);
  }

  private mixed(pos: number, want: string): never {
    if (pos >= this.limit && !this.final) this.needMore();
    this.fail('type_error', `expected ${want}, got ${describeByte(this.buf, pos, this.limit)}`);
  }

  /**
   * One JSON number (or NaN/Infinity/-Infinity) from `start`, any form; sets this.pos past it.
   * Up to 15 significant digits with a decimal exponent within ±22 is exact as mantissa·10^e
   * (both exact in float64, one rounding); anything else is Number() on the text.
   */
  private readNumber(start: number): number {
    const buf = this.buf;
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
    if (dropped || exp < -22 || exp > 22 || nHi + nLo > 15) {
      v = Number(LATIN1.decode(buf.subarray(neg ? start + 1 : start, pos)));
    } else {
      // Up to 15 digits: the mantissa is exact, so one rounding gives the correctly rounded float64.
      const m = nLo === 0 ? hi : hi * POW10[nLo] + lo;
      v = exp >= 0 ? m * POW10[exp] : m / POW10[-exp];
    }
    if (this.integral && !Number.isInteger(v)) this.integral = false;
    return neg ? -v : v;
  }

  private literal(pos: number, word: string, value: number): number {
    for (let i = 0; i < word.length; i++) {
      if (this.buf[pos + i] !== word.charCodeAt(i)) {
        if (pos + i >= this.limit && !this.final) this.needMore();
        throw jsonInvalid(pos, `unknown literal (expected ${word})`);
      }
    }
    this.pos = pos + word.length;
    this.integral = false;
    return value;
  }

  private badNumber(start: number, pos: number): never {
    if (pos >= this.limit && !this.final) this.needMore();
    throw jsonInvalid(start, `malformed number at byte ${pos}`);
  }
}
