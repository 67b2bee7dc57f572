/**
 * Builds a JSON response body as bytes. Number arrays are written digit by digit into one
 * growing buffer instead of JSON.stringify over nested JS arrays, which would box every element
 * and build one string per row: for 4M int8 codes that is the difference between ~50 ms and
 * over a second.
 */
export class JsonWriter {
  private buf: Buffer;
  private view: DataView;
  private pos = 0;

  constructor(initialBytes = 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(64, initialBytes));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  /** Appends JSON text as is (the caller guarantees it is valid where it lands). */
  raw(text: string): this {
    const n = Buffer.byteLength(text);
    this.reserve(n);
    this.pos += this.buf.write(text, this.pos);
    return this;
  }

  /** Appends any JSON-serializable value through JSON.stringify (for the small parts). */
  value(v: unknown): this {
    return this.raw(JSON.stringify(v) ?? 'null');
  }

  /**
   * Appends `data` (C order) as nested arrays of the given shape. Integer arrays are written by
   * hand; other numbers as JavaScript's shortest round-trip form of their float64 value (for
   * float32 data that is the same text Python prints for float(np.float32(x))). Non-finite
   * values have no JSON form and are written as null.
   */
  array(data: ArrayLike<number>, shape: readonly number[]): this {
    if (shape.length === 0) return this.number(data[0]);
    const integral = isIntegerArray(data);
    // Worst case per element: the code's widest text, 11 bytes for an int32 or 24 for a float,
    // plus a separator; then a bracket pair and a separator per sub-array.
    const table = digitTableFor(data);
    const perElement = table !== undefined ? table.maxWidth : integral ? 12 : 25;
    let arrays = 0;
    let outer = 1;
    for (const d of shape) {
      arrays += outer;
      outer *= d;
    }
    // +8: the table path stores 8 bytes at a time past the last code.
    this.reserve(data.length * perElement + arrays * 3 + 8);
    this.writeLevel(data, shape, 0, 0, integral);
    return this;
  }

  private writeLevel(data: ArrayLike<number>, shape: readonly number[], dim: number, offset: number, integral: boolean): number {
    const buf = this.buf;
    const n = shape[dim];
    buf[this.pos++] = 91; // [
    const table = dim === shape.length - 1 && n > 0 ? digitTableFor(data) : undefined;
    if (table !== undefined) {
      // Each code's text with its trailing comma, copied from a table; the last comma becomes ']'.
      // Two 32-bit stores per code (bytes past its length are overwritten by the next one; the
      // reserve left room for that) instead of a byte loop.
      const { words, lengths, min } = table;
      const view = this.view;
      let p = this.pos;
      for (let i = 0; i < n; i++) {
        const k = data[offset + i] - min;
        view.setUint32(p, words[2 * k], true);
        view.setUint32(p + 4, words[2 * k + 1], true);
        p += lengths[k];
      }
      buf[p - 1] = 93; // ]
      this.pos = p;
      return offset + n;
    }
    if (dim === shape.length - 1) {
      for (let i = 0; i < n; i++) {
        if (i > 0) buf[this.pos++] = 44; // ,
        const v = data[offset + i];
        if (integral) this.writeInt(v);
        else this.writeFloat(v);
      }
      offset += n;
    } else {
      for (let i = 0; i < n; i++) {
        if (i > 0) buf[this.pos++] = 44;
        offset = this.writeLevel(data, shape, dim + 1, offset, integral);
      }
    }
    buf[this.pos++] = 93; // ]
    return offset;
  }

  private number(v: number): this {
    this.reserve(25);
    if (Number.isInteger(v) && Math.abs(v) < 2 ** 31) this.writeInt(v);
    else this.writeFloat(v);
    return this;
  }

  /** |v| < 2^31 (the caller checked). */
  private writeInt(v: number): void {
    const buf = this.buf;
    if (v < 0) {
      buf[this.pos++] = 45;
      v = -v;
    } else if (v === 0) {
      buf[this.pos++] = 48;
      return;
    }
    let digits = 1;
    for (let t = v; t >= 10; t = (t / 10) | 0) digits++;
    let p = this.pos + digits;
    this.pos = p;
    while (v > 0) {
      const q = (v / 10) | 0;
      buf[--p] = 48 + (v - q * 10);
      v = q;
    }
  }

  private writeFloat(v: number): void {
    if (!Number.isFinite(v)) {
      this.pos += this.buf.write('null', this.pos, 'latin1');
      return;
    }
    this.pos += this.buf.write(String(v), this.pos, 'latin1');
  }

  /** The bytes written so far (a view, not a copy). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

interface DigitTable {
  /** 8 bytes per value (two little-endian words): its decimal text and a comma. */
  readonly words: Uint32Array;
  readonly lengths: Uint8Array;
  readonly min: number;
  /** Longest entry (text and comma). */
  readonly maxWidth: number;
}

const DIGIT_TABLES = new Map<string, DigitTable>();

function buildDigitTable(min: number, max: number): DigitTable {
  const words = new Uint32Array((max - min + 1) * 2);
  const bytes = new Uint8Array(words.buffer);
  const lengths = new Uint8Array(max - min + 1);
  let maxWidth = 0;
  for (let v = min; v <= max; v++) {
    const text = `${v},`;
    maxWidth = Math.max(maxWidth, text.length);
    const k = (v - min) * 8;
    for (let j = 0; j < text.length; j++) bytes[k + j] = text.charCodeAt(j);
    lengths[v - min] = text.length;
  }
  if (!new Uint8Array(new Uint16Array([1]).buffer)[0]) {
    // Big-endian host: the words were filled byte-wise, so swap them for the little-endian stores.
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      words[i] = ((w & 0xff) << 24) | ((w & 0xff00) << 8) | ((w >>> 8) & 0xff00) | (w >>> 24);
    }
  }
  return { words, lengths, min, maxWidth };
}

/** Tables for the code containers (at most 64 Ki entries, built once per process). */
function digitTableFor(data: ArrayLike<number>): DigitTable | undefined {
  const range =
    data instanceof Int8Array ? [-128, 127] : data instanceof Uint8Array ? [0, 255] : data instanceof Int16Array ? [-32768, 32767] : data instanceof Uint16Array ? [0, 65535] : undefined;
  if (range === undefined) return undefined;
  const key = data.constructor.name;
  let t = DIGIT_TABLES.get(key);
  if (t === undefined) {
    t = buildDigitTable(range[0], range[1]);
    DIGIT_TABLES.set(key, t);
  }
  return t;
}

function isIntegerArray(data: ArrayLike<number>): boolean {
  if (
    data instanceof Int8Array ||
    data instanceof Uint8Array ||
    data instanceof Int16Array ||
    data instanceof Uint16Array ||
    data instanceof Int32Array
  ) {
    return true;
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v >= 2 ** 31 || v <= -(2 ** 31)) return false;
  }
  return true;
}
