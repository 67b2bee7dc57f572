import { describeByte, jsonInvalid, NdArrayParser, SCAN_SLACK, type Float32Alloc } from './nd-array-parser.js';

export { MAX_RANK } from './nd-array-parser.js';

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const LBRACKET = 91;
const RBRACKET = 93;
const LBRACE = 123;
const RBRACE = 125;
const UTF8 = new TextDecoder();

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

export interface JsonBodyOptions {
  /** The body's length when known (Content-Length): its buffer is then allocated once. */
  expectedBytes?: number;
  /** Where the float arrays of the array keys are allocated (default: ordinary Float32Arrays). */
  allocFloat32?: Float32Alloc;
}

/** Buffers from this size up are kept for the next body (see takeBuffer). */
const POOL_MIN_BYTES = 1 << 20;
/** An idle pooled buffer is dropped after this long, so one large request does not pin its memory for good. */
const POOL_IDLE_MS = 30_000;
let spare: Uint8Array | undefined;
let spareTimer: ReturnType<typeof setTimeout> | undefined;

/**
 * A buffer of at least `bytes`: the pooled one when it fits. Reusing it matters for large bodies:
 * a fresh 80 MB buffer costs about as much in page faults on first write as copying into it.
 */
function takeBuffer(bytes: number): Uint8Array {
  if (spare !== undefined && spare.length >= bytes) {
    const b = spare;
    spare = undefined;
    return b;
  }
  return new Uint8Array(bytes);
}

function giveBack(buf: Uint8Array): void {
  if (buf.length < POOL_MIN_BYTES || (spare !== undefined && spare.length >= buf.length)) return;
  spare = buf;
  clearTimeout(spareTimer);
  spareTimer = setTimeout(() => {
    spare = undefined;
  }, POOL_IDLE_MS);
  spareTimer.unref?.();
}

/** Where the top-level scan is. */
const enum State {
  Start,
  KeyOrClose,
  Key,
  Colon,
  Value,
  Array,
  AfterValue,
  Trailing,
  Plain,
  Done,
}

/**
 * Parses a JSON request body while it arrives: `push` each chunk as it comes (it is copied once
 * into one buffer and parsed as far as it goes), `end` for the value. Values of the top-level keys
 * named in `arrayKeys` are read straight into an NdArray of float32 (no JS array per row, no boxed
 * numbers) by NdArrayParser, so for a large array the parse is done about when the last byte
 * arrives. Those values must be rectangular nested arrays of numbers of any rank and may use
 * Python's NaN, Infinity and -Infinity tokens (json.dumps writes them), so the engine, not the
 * parser, decides what NaN means. Everything else goes through JSON.parse.
 *
 * A token cut by the end of a chunk is re-read from its start when enough new bytes have come to
 * at least double what it had (so a hostile giant token costs O(n log n), not O(n²)).
 *
 * @throws RequestError 422 with FastAPI's detail shape: json_invalid for bad syntax, and a
 *   located issue for a ragged, empty-of-numbers or non-numeric array.
 */
export class JsonBodyParser {
  private buf: Uint8Array;
  private n = 0;
  private pos = 0;
  private state = State.Start;
  private readonly out: Record<string, unknown> = {};
  private key = '';
  private array: NdArrayParser | undefined;
  private result: unknown;
  /** Bytes received before the next parse attempt is worth it. */
  private retryAt = 0;

  constructor(
    private readonly arrayKeys: ReadonlySet<string>,
    private readonly options: JsonBodyOptions = {},
  ) {
    // +1 for the sentinel, + slack for the scanner's word reads.
    this.buf = takeBuffer((options.expectedBytes ?? 16384) + 1 + SCAN_SLACK);
    this.buf[0] = 0;
  }

  /** Returns the body buffer for reuse; the parser must not be used afterwards. NdArrays parsed stay valid. */
  release(): void {
    giveBack(this.buf);
    this.buf = new Uint8Array(0);
    this.array = undefined;
  }

  /** Bytes received so far. */
  get received(): number {
    return this.n;
  }

  push(chunk: Uint8Array): void {
    const need = this.n + chunk.length + 1 + SCAN_SLACK;
    if (need > this.buf.length) this.grow(need);
    this.buf.set(chunk, this.n);
    this.n += chunk.length;
    this.buf[this.n] = 0;
    if (this.n >= this.retryAt) this.advance(false);
  }

  /** The parsed body, once every byte was pushed. */
  end(): unknown {
    this.advance(true);
    return this.result;
  }

  private grow(need: number): void {
    const grown = takeBuffer(Math.max(need, this.buf.length * 2));
    grown.set(this.buf.subarray(0, this.n + 1));
    giveBack(this.buf);
    this.buf = grown;
    this.array?.rebase(grown);
  }

  /**
   * Not enough bytes for the token starting at `from`: at the end of the body that is `error`,
   * otherwise wait for about as many new bytes as the token already has.
   */
  private wait(from: number, final: boolean, error: () => Error): boolean {
    if (final) throw error();
    this.retryAt = this.n + Math.max(1, this.n - from);
    return false;
  }

  private advance(final: boolean): void {
    const buf = this.buf;
    const limit = this.n;
    const keys = this.arrayKeys;
    let pos = this.pos;
    for (;;) {
      if (this.state !== State.Array && this.state !== State.Plain && this.state !== State.Done) {
        while (pos < limit && isSpace(buf[pos])) pos++;
        this.pos = pos;
      }
      switch (this.state) {
        case State.Done:
          return;
        case State.Start:
          if (pos >= limit && !final) return void this.wait(pos, final, () => new Error());
          if (keys.size === 0 || buf[pos] !== LBRACE) {
            this.state = State.Plain;
            continue;
          }
          pos++;
          this.state = State.KeyOrClose;
          continue;
        case State.Plain:
          if (!final) {
            this.retryAt = Infinity;
            return;
          }
          this.result = plainParse(buf, 0, limit);
          this.state = State.Done;
          return;
        case State.KeyOrClose:
        case State.Key: {
          if (pos >= limit) return void this.wait(pos, final, () => jsonInvalid(pos, 'expected a property name in double quotes, got the end of the body'));
          if (this.state === State.KeyOrClose && buf[pos] === RBRACE) {
            pos++;
            this.state = State.Trailing;
            continue;
          }
          if (buf[pos] !== QUOTE) throw jsonInvalid(pos, `expected a property name in double quotes, got ${describeByte(buf, pos, limit)}`);
          const end = stringEnd(buf, pos, limit);
          if (end < 0) return void this.wait(pos, final, () => jsonInvalid(pos, 'unterminated string'));
          this.key = plainParse(buf, pos, end) as string;
          pos = end;
          this.state = State.Colon;
          continue;
        }
        case State.Colon:
          if (pos >= limit) return void this.wait(pos, final, () => jsonInvalid(pos, "expected ':' after a property name, got the end of the body"));
          if (buf[pos] !== COLON) throw jsonInvalid(pos, `expected ':' after a property name, got ${describeByte(buf, pos, limit)}`);
          pos++;
          this.state = State.Value;
          continue;
        case State.Value: {
          if (keys.has(this.key)) {
            this.array = new NdArrayParser(buf, pos, this.key, this.options.expectedBytes ?? 0, this.options.allocFloat32);
            this.state = State.Array;
            continue;
          }
          if (pos >= limit) return void this.wait(pos, final, () => jsonInvalid(pos, 'expected a value, got the end of the body'));
          const end = valueEnd(buf, pos, limit, final);
          if (end < 0) return void this.wait(pos, final, () => jsonInvalid(pos, 'unterminated array or object'));
          this.define(plainParse(buf, pos, end));
          pos = end;
          this.state = State.AfterValue;
          continue;
        }
        case State.Array: {
          const a = this.array!;
          if (!a.run(limit, final)) {
            this.pos = a.pos;
            this.retryAt = limit + Math.max(1, limit - a.pos);
            return;
          }
          this.define(a.result());
          pos = a.pos;
          this.array = undefined;
          this.state = State.AfterValue;
          continue;
        }
        case State.AfterValue:
          if (pos >= limit) return void this.wait(pos, final, () => jsonInvalid(pos, "expected ',' or '}' after a property value, got the end of the body"));
          if (buf[pos] === COMMA) {
            pos++;
            this.state = State.Key;
            continue;
          }
          if (buf[pos] === RBRACE) {
            pos++;
            this.state = State.Trailing;
            continue;
          }
          throw jsonInvalid(pos, `expected ',' or '}' after a property value, got ${describeByte(buf, pos, limit)}`);
        case State.Trailing:
          if (pos < limit) throw jsonInvalid(pos, `unexpected ${describeByte(buf, pos, limit)} after the JSON value`);
          if (!final) return void this.wait(pos, final, () => new Error());
          this.result = this.out;
          this.state = State.Done;
          return;
      }
    }
  }

  private define(value: unknown): void {
    // JSON.parse keeps the last duplicate; so do we. defineProperty keeps a "__proto__" key inert.
    Object.defineProperty(this.out, this.key, { value, enumerable: true, writable: true, configurable: true });
  }
}

/** parses a complete body (see JsonBodyParser). */
export function parseJsonBody(bytes: Uint8Array, arrayKeys: ReadonlySet<string>, options: Omit<JsonBodyOptions, 'expectedBytes'> = {}): unknown {
  const p = new JsonBodyParser(arrayKeys, { ...options, expectedBytes: bytes.length });
  try {
    p.push(bytes);
    return p.end();
  } finally {
    p.release();
  }
}

function plainParse(buf: Uint8Array, start: number, end: number): unknown {
  const text = UTF8.decode(buf.subarray(start, end));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw jsonInvalid(start, (e as Error).message);
  }
}

/** Position just past the string starting at pos (its opening quote), or -1 when it does not end before limit. */
function stringEnd(buf: Uint8Array, pos: number, limit: number): number {
  pos++;
  while (pos < limit) {
    const c = buf[pos];
    if (c === QUOTE) return pos + 1;
    pos += c === BACKSLASH ? 2 : 1;
  }
  return -1;
}

/**
 * Position just past the value starting at pos, or -1 when it may go on past limit. Only brackets
 * and strings are tracked here; JSON.parse checks the rest.
 */
function valueEnd(buf: Uint8Array, pos: number, limit: number, final: boolean): number {
  let depth = 0;
  while (pos < limit) {
    const c = buf[pos];
    if (c === QUOTE) {
      pos = stringEnd(buf, pos, limit);
      if (pos < 0) return -1;
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
  // A scalar running to the end of the whole body ends there (what follows it is then missing).
  return final && depth === 0 ? limit : -1;
}
