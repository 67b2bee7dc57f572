import { QuantError } from '../../core/errors.js';
import { oneLine } from '../one-line.js';
import type { GgmlTypeInfo } from '../../core/ggml/index.js';
import { ggmlTypeById } from '../../core/ggml/index.js';
import type { GgufArray, GgufValue, GgufValueType } from './gguf-value.js';
import { GGUF_FIXED_SIZES, GGUF_TYPED_ARRAYS, ggufValueTypeOf } from './gguf-value.js';

/*
 * GGUF (ggml's model file), little-endian throughout:
 *   magic "GGUF", u32 version (3; 2 reads the same), u64 tensor count, u64 key-value count,
 *   key-values: string key, u32 value type, value (arrays: u32 item type, u64 count, items),
 *   tensor infos: string name, u32 n_dims, u64 dims[n_dims] (ggml order: dims[0] is the row
 *   length), u32 ggml type, u64 offset (from the start of the data section),
 *   zero padding to `general.alignment` (u32, default 32), then the data section.
 * A string is a u64 byte length and UTF-8 bytes with no terminator.
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** llama.cpp keeps tensor names in 64-byte buffers with a terminator: a longer name cannot load. */
export const GGUF_MAX_NAME_BYTES = 63;
/** ggml tensors have at most 4 dimensions. */
export const GGUF_MAX_DIMS = 4;
/** Arrays of arrays deeper than this are refused (the stack, not the format, sets the limit). */
export const GGUF_MAX_NESTING = 32;

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml order: dims[0] is the length of a row (the fastest-varying axis), the reverse of a NumPy shape. */
  readonly dims: readonly number[];
  readonly type: GgmlTypeInfo;
  /** Byte offset from the start of the data section (a multiple of the alignment). */
  readonly offset: bigint;
  readonly elements: number;
  readonly byteLength: number;
}

export interface GgufHeader {
  readonly version: number;
  /** Keys in file order. */
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Tensors in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** Absolute file offset of the data section: the header's end padded to the alignment. */
  readonly dataOffset: bigint;
}

/** Returned by tryDecodeGgufHeader when the prefix it was given ends inside the header. */
export interface GgufNeedBytes {
  readonly needBytes: number;
}

function malformed(message: string): QuantError {
  return new QuantError('MALFORMED_FILE', `GGUF: ${oneLine(message)}`);
}

function unsupported(message: string): QuantError {
  return new QuantError('UNSUPPORTED', `GGUF: ${oneLine(message)}`);
}

/** Thrown inside the cursor when the prefix ends; turned into "need more" or "truncated". */
class PrefixEnded {
  constructor(
    readonly need: number,
    readonly what: string,
  ) {}
}

const decoder = new TextDecoder('utf-8');
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

class Cursor {
  pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    /** Bytes in the whole file: what lengths and counts are checked against. */
    readonly fileSize: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number, what: string): number {
    const at = this.pos;
    if (at + n > this.fileSize) throw malformed(`the file ends at byte ${this.fileSize} inside ${what} (byte ${at}, ${n} bytes needed)`);
    if (at + n > this.bytes.length) throw new PrefixEnded(at + n, what);
    this.pos = at + n;
    return at;
  }

  /** Bytes left in the file after the cursor: what a count or length may claim at most. */
  get remaining(): number {
    return this.fileSize - this.pos;
  }

  u8(what: string): number {
    return this.view.getUint8(this.need(1, what));
  }
  u32(what: string): number {
    return this.view.getUint32(this.need(4, what), true);
  }
  u64(what: string): bigint {
    return this.view.getBigUint64(this.need(8, what), true);
  }
  /** A u64 count or length, refused when it claims more than `perItem` x count bytes than remain. */
  count(what: string, perItem: number): number {
    const n = this.u64(what);
    if (n * BigInt(Math.max(1, perItem)) > BigInt(this.remaining)) {
      throw malformed(`${what} is ${n}, more than the ${this.remaining} bytes left in the file can hold`);
    }
    return Number(n);
  }
  raw(n: number, what: string): Uint8Array {
    const at = this.need(n, what);
    return this.bytes.subarray(at, at + n);
  }
  string(what: string): string {
    const n = this.count(`the length of ${what}`, 1);
    return decoder.decode(this.raw(n, what));
  }
}

function readValue(c: Cursor, type: GgufValueType, what: string, depth: number): GgufValue {
  switch (type) {
    case 'u8':
    case 'i8':
    case 'u16':
    case 'i16':
    case 'u32':
    case 'i32':
    case 'f32':
    case 'f64': {
      const a = readTyped(c, type, 1, what);
      return { type, value: a[0] as number };
    }
    case 'u64':
    case 'i64': {
      const a = readTyped(c, type, 1, what);
      return { type, value: a[0] as bigint };
    }
    case 'bool':
      return { type, value: readBool(c, what) };
    case 'string':
      return { type, value: c.string(what) };
    case 'array':
      return readArray(c, what, depth + 1);
  }
}

function readBool(c: Cursor, what: string): boolean {
  const b = c.u8(what);
  if (b > 1) throw malformed(`${what}: a bool must be 0 or 1, got ${b}`);
  return b === 1;
}

function readTyped(c: Cursor, type: keyof typeof GGUF_TYPED_ARRAYS, n: number, what: string) {
  const size = GGUF_FIXED_SIZES[type]!;
  // A copy, aligned for the typed array (a view may be misaligned, and a Buffer's .slice() is a view, not a copy).
  const bytes = new Uint8Array(c.raw(n * size, what));
  return new GGUF_TYPED_ARRAYS[type](bytes.buffer, 0, n);
}

function itemType(c: Cursor, what: string): GgufValueType {
  const code = c.u32(`the type of ${what}`);
  const t = ggufValueTypeOf(code);
  if (t === undefined) throw malformed(`${what} has value type ${code}, not one of GGUF's 0-12`);
  return t;
}

function readArray(c: Cursor, what: string, depth: number): GgufArray {
  if (depth > GGUF_MAX_NESTING) throw malformed(`${what} nests arrays more than ${GGUF_MAX_NESTING} deep`);
  const t = itemType(c, `the items of ${what}`);
  // Strings take at least their 8-byte length, arrays 12 bytes (type and count).
  const least = t === 'string' ? 8 : t === 'array' ? 12 : GGUF_FIXED_SIZES[t]!;
  const n = c.count(`the item count of ${what}`, least);
  if (t === 'string') {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(c.string(`item ${i} of ${what}`));
    return { type: 'array', itemType: t, value: out };
  }
  if (t === 'bool') {
    const out: boolean[] = [];
    for (let i = 0; i < n; i++) out.push(readBool(c, `item ${i} of ${what}`));
    return { type: 'array', itemType: t, value: out };
  }
  if (t === 'array') {
    const out: GgufArray[] = [];
    for (let i = 0; i < n; i++) out.push(readArray(c, `item ${i} of ${what}`, depth + 1));
    return { type: 'array', itemType: t, value: out };
  }
  return { type: 'array', itemType: t, value: readTyped(c, t, n, what) } as GgufArray;
}

function readVersion(c: Cursor): number {
  const magic = c.u32('the magic');
  if (magic !== GGUF_MAGIC) {
    const got = Array.from(new Uint8Array(new Uint32Array([magic]).buffer), (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '?')).join('');
    throw malformed(`not a GGUF file: it starts with '${got}', expected 'GGUF'`);
  }
  const version = c.u32('the version');
  // A big-endian file's version 3 reads as 0x03000000 here.
  if (version !== 0 && (version & 0xffff) === 0) throw unsupported(`version ${version} looks byte-swapped: big-endian GGUF files are not read`);
  if (version === 1) throw unsupported('version 1 (32-bit counts) is not read; versions 2 and 3 are');
  if (version < 2 || version > 3) throw unsupported(`version ${version} is not read; versions 2 and 3 are`);
  return version;
}

function tensorInfo(c: Cursor, index: number, names: Set<string>): Omit<GgufTensorInfo, 'offset'> & { offset: bigint } {
  const name = c.string(`the name of tensor ${index}`);
  const label = `tensor '${name}'`;
  if (new TextEncoder().encode(name).length > GGUF_MAX_NAME_BYTES) throw malformed(`${label}: a name is at most ${GGUF_MAX_NAME_BYTES} bytes`);
  if (names.has(name)) throw malformed(`two tensors are named '${name}'`);
  names.add(name);
  const nDims = c.u32(`the dimension count of ${label}`);
  if (nDims > GGUF_MAX_DIMS) throw malformed(`${label} has ${nDims} dimensions, at most ${GGUF_MAX_DIMS}`);
  const dims: number[] = [];
  let elements = 1n;
  for (let j = 0; j < nDims; j++) {
    const d = c.u64(`dimension ${j} of ${label}`);
    if (d > MAX_SAFE) throw malformed(`${label}: dimension ${j} is ${d}, beyond 2^53`);
    dims.push(Number(d));
    elements *= d;
  }
  if (elements > MAX_SAFE) throw malformed(`${label} has ${elements} elements, beyond 2^53`);
  const typeId = c.u32(`the type of ${label}`);
  const type = ggmlTypeById(typeId);
  if (type === undefined) throw unsupported(`${label} has ggml type ${typeId}, which ggml does not define (or has removed)`);
  const rowLength = dims[0] ?? 1;
  if (rowLength % type.blockSize !== 0) throw malformed(`${label} of type ${type.name} has rows of ${rowLength} values, not a multiple of its block size ${type.blockSize}`);
  const byteLength = (Number(elements) / type.blockSize) * type.typeSize;
  const offset = c.u64(`the offset of ${label}`);
  return { name, dims, type, offset, elements: Number(elements), byteLength };
}

function decode(c: Cursor): GgufHeader {
  const version = readVersion(c);
  const nTensors = c.count('the tensor count', 24);
  const nKv = c.count('the key-value count', 12);
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string(`key ${i}`);
    if (key.length === 0) throw malformed(`key ${i} is empty`);
    if (metadata.has(key)) throw malformed(`key '${key}' appears twice`);
    const t = itemType(c, `key '${key}'`);
    metadata.set(key, readValue(c, t, `key '${key}'`, 0));
  }
  const al = metadata.get('general.alignment');
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (al !== undefined) {
    if (al.type !== 'u32') throw malformed(`general.alignment must be a u32, got ${al.type}`);
    if (al.value === 0 || (al.value & (al.value - 1)) !== 0) throw malformed(`general.alignment must be a power of two, got ${al.value}`);
    alignment = al.value;
  }
  const names = new Set<string>();
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) tensors.push(tensorInfo(c, i, names));
  const end = c.pos;
  const dataOffset = Math.ceil(end / alignment) * alignment;
  if (nTensors > 0 && dataOffset > c.fileSize) throw malformed(`the data section would start at byte ${dataOffset}, past the end of the ${c.fileSize}-byte file`);
  const dataBytes = BigInt(Math.max(0, c.fileSize - dataOffset));
  const A = BigInt(alignment);
  const byOffset = [...tensors].sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  let prevEnd = 0n;
  let prevName = '';
  for (const t of byOffset) {
    if (t.offset % A !== 0n) throw malformed(`tensor '${t.name}' starts at offset ${t.offset}, not a multiple of the alignment ${alignment}`);
    const tEnd = t.offset + BigInt(t.byteLength);
    if (tEnd > dataBytes) throw malformed(`tensor '${t.name}' (${t.byteLength} bytes at data offset ${t.offset}) ends past the end of the file`);
    if (t.offset < prevEnd && t.byteLength > 0) throw malformed(`tensors '${prevName}' and '${t.name}' overlap`);
    if (t.byteLength > 0) {
      prevEnd = tEnd;
      prevName = t.name;
    }
  }
  return { version, metadata, tensors, alignment, dataOffset: BigInt(dataOffset) };
}

/**
 * The header of a GGUF file held whole in `bytes`. MALFORMED_FILE (one line) for anything the
 * format forbids: a bad magic, a count or length claiming more bytes than the file has, a key
 * twice, an unknown value type, a tensor past the end of the file, misaligned or overlapping
 * tensors, rows not a whole number of blocks; UNSUPPORTED for version 1, big-endian files and
 * ggml types that no longer exist.
 */
export function decodeGgufHeader(bytes: Uint8Array): GgufHeader {
  const r = tryDecodeGgufHeader(bytes, bytes.length);
  if ('needBytes' in r) throw malformed('the header is cut short');
  return r;
}

/**
 * The header from the first bytes of a file of `fileSize` bytes, or how many bytes of the file the
 * header needs when `prefix` ends inside it (read that many and call again). This lets a reader
 * parse the header of a 10 GB file from a few megabytes.
 */
export function tryDecodeGgufHeader(prefix: Uint8Array, fileSize: number): GgufHeader | GgufNeedBytes {
  if (!Number.isSafeInteger(fileSize) || fileSize < prefix.length) throw new QuantError('INVALID_ARGUMENT', `fileSize must be an integer >= the prefix length ${prefix.length}, got ${fileSize}`);
  try {
    return decode(new Cursor(prefix, fileSize));
  } catch (e) {
    if (e instanceof PrefixEnded) return { needBytes: e.need };
    throw e;
  }
}
