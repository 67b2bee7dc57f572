import { CODE_STORAGES, codeStorageOf } from '../../core/dtypes.js';
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
  private readonly parts: number[] = [];

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
   * Appends `data` (C order) as nested arrays of the given shape, all at once: array(data, [2, 3])
   * writes `[[a,b,c],[d,e,f]]`. Integers below 2^31 in magnitude are written by hand, code
   * containers (int8, uint8, int16, uint16) from digit tables, other numbers as JavaScript's
   * shortest round-trip form of their float64 value (for float32 data that is the same text Python
   * prints for float(np.float32(x))); the text is JSON.stringify's for the same nested arrays.
   * Non-finite values have no JSON form and are written as null.
   */
  array(data: ArrayLike<number>, shape: readonly number[]): this {
    for (const _ of this.arraySlices(data, shape, Infinity));
    return this;
  }

  /**
   * Appends `data` as array() does, in slices: each step of the generator writes about
   * `sliceElements` elements (16 times as many from a digit table, which is that much cheaper per
   * element) and pauses, so the caller can let other work run between slices. Nothing else may be
   * written to this writer until the generator is done. Iterative, so the rank costs no stack.
   */
  *arraySlices(data: ArrayLike<number>, shape: readonly number[], sliceElements: number): Generator<void, void, void> {
    if (shape.length === 0) {
      this.number(data[0]);
      return;
    }
    // A zero-size array is nested empty arrays: the dims before the first 0, each leaf `[]`.
    const zero = shape.indexOf(0);
    const dims = zero < 0 ? shape : shape.slice(0, zero);
    if (dims.length === 0) {
      this.raw('[]');
      return;
    }
    const rank = dims.length;
    const leaves = dims.reduce((a, b) => a * b, 1);
    const rowLength = dims[rank - 1];
    const table = zero < 0 ? digitTableFor(data) : undefined;
    // Worst case per leaf with its separator: the widest table entry, 12 bytes for an int32, 25
    // for a float, 3 for `[],`; then a bracket pair and a separator per array.
    const perLeaf = zero >= 0 ? 3 : table !== undefined ? table.maxWidth : data instanceof Int32Array ? 12 : 25;
    let arrays = 0;
    let outer = 1;
    for (const d of dims) {
      arrays += outer;
      outer *= d;
    }
    // +8: the table path stores 8 bytes at a time past the last code.
    this.reserve(leaves * perLeaf + arrays * 3 + 8);
    const budget = table !== undefined ? sliceElements * 16 : sliceElements;
    // Which element of each enclosing array the current row is in (an odometer over dims[0..rank-1)).
    const counters = new Array<number>(rank - 1).fill(0);
    this.brackets(91, rank); // [
    let i = 0;
    let done = 0;
    while (i < leaves) {
      const end = Math.min(leaves, i - (i % rowLength) + rowLength, i + budget - done);
      // Every leaf is written with a trailing comma; the last one of a row gets its bracket instead.
      if (zero >= 0) this.emptyLeaves(end - i);
      else if (table !== undefined) this.tableLeaves(data, i, end, table);
      else this.numberLeaves(data, i, end);
      done += end - i;
      i = end;
      if (i % rowLength === 0) {
        this.pos--;
        let closed = 1;
        for (let d = rank - 2; d >= 0; d--) {
          if (++counters[d] < dims[d]) break;
          counters[d] = 0;
          closed++;
        }
        this.brackets(93, closed); // ]
        if (i < leaves) {
          this.buf[this.pos++] = 44; // ,
          this.brackets(91, closed);
        }
      }
      if (done >= budget && i < leaves) {
        done = 0;
        yield;
      }
    }
  }

  private brackets(byte: number, count: number): void {
    this.buf.fill(byte, this.pos, this.pos + count);
    this.pos += count;
  }

  private emptyLeaves(count: number): void {
    for (let k = 0; k < count; k++) {
      this.buf[this.pos++] = 91;
      this.buf[this.pos++] = 93;
      this.buf[this.pos++] = 44;
    }
  }

  /**
   * Each code's text with its trailing comma, copied from the table by two 32-bit stores (bytes
   * past its length are overwritten by the next one; the reserve left room for that) instead of a
   * byte loop.
   */
  private tableLeaves(data: ArrayLike<number>, from: number, to: number, table: DigitTable): void {
    const { words, lengths, min } = table;
    const view = this.view;
    let p = this.pos;
    for (let i = from; i < to; i++) {
      const k = data[i] - min;
      view.setUint32(p, words[2 * k], true);
      view.setUint32(p + 4, words[2 * k + 1], true);
      p += lengths[k];
    }
    this.pos = p;
  }

  private numberLeaves(data: ArrayLike<number>, from: number, to: number): void {
    if (data instanceof Int32Array) {
      const buf = this.buf;
      for (let i = from; i < to; i++) {
        this.writeInt(data[i]);
        buf[this.pos++] = 44; // ,
      }
      return;
    }
    // Array.prototype.join converts numbers as String does, and one Buffer.write per group costs
    // far less than one per number (about half the time of writing them one by one).
    const parts = this.parts;
    for (let i = from; i < to; i += JOIN_GROUP) {
      const end = Math.min(to, i + JOIN_GROUP);
      parts.length = end - i;
      let finite = true;
      for (let j = i; j < end; j++) {
        const v = data[j];
        parts[j - i] = v;
        finite &&= Number.isFinite(v);
      }
      if (finite) {
        this.pos += this.buf.write(parts.join(','), this.pos, 'latin1');
        this.buf[this.pos++] = 44; // ,
        continue;
      }
      // join would write NaN and Infinity as such; JSON has null for them.
      for (let j = i; j < end; j++) {
        const v = data[j];
        if (Number.isInteger(v) && v < 2 ** 31 && v > -(2 ** 31)) this.writeInt(v);
        else this.writeFloat(v);
        this.buf[this.pos++] = 44;
      }
    }
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

/** Numbers converted and written together by numberLeaves. */
const JOIN_GROUP = 1024;

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
  const storage = codeStorageOf(data);
  if (storage === undefined) return undefined;
  const range = [CODE_STORAGES[storage].min, CODE_STORAGES[storage].max];
  const key = data.constructor.name;
  let t = DIGIT_TABLES.get(key);
  if (t === undefined) {
    t = buildDigitTable(range[0], range[1]);
    DIGIT_TABLES.set(key, t);
  }
  return t;
}
