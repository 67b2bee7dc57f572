import { QuantError } from '../../core/errors.js';
import type { GgmlTypeInfo } from '../../core/ggml/index.js';
import type { GgufHeader, GgufTensorInfo } from './gguf-header.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_DIMS, GGUF_MAX_NAME_BYTES, GGUF_MAX_NESTING } from './gguf-header.js';
import type { GgufArray, GgufValue } from './gguf-value.js';
import { GGUF_FIXED_SIZES, GGUF_TYPED_ARRAYS, GGUF_VALUE_TYPES } from './gguf-value.js';

/** A tensor to be written: its name, ggml-order dims and type; the encoder places it. */
export interface GgufTensorSpec {
  readonly name: string;
  readonly dims: readonly number[];
  readonly type: GgmlTypeInfo;
}

export interface GgufLayout {
  /** Everything before the data section: the header and its zero padding to the alignment. */
  readonly headerBytes: Uint8Array;
  /** The header as a reader will see it (tensor offsets filled in). */
  readonly header: GgufHeader;
  /** The whole file's size: header, each tensor, each padded to the alignment. */
  readonly fileSize: bigint;
}

function invalid(message: string): QuantError {
  return new QuantError('INVALID_ARGUMENT', `GGUF: ${message}`);
}

const encoder = new TextEncoder();

/** Appends little-endian values to a growing buffer. */
class Sink {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.length + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // reserve() may replace the buffer: each writer takes its position before touching buf or view.
  u8(v: number) {
    const at = this.reserve(1);
    this.view.setUint8(at, v);
  }
  u32(v: number) {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }
  u64(v: bigint | number) {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  bytes(b: Uint8Array) {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }
  string(s: string) {
    const b = encoder.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment: number) {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.reserve(n);
    this.buf.fill(0, this.length - n, this.length);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const RANGES: Record<string, readonly [number, number]> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

function writeScalar(s: Sink, v: GgufValue, what: string): void {
  switch (v.type) {
    case 'u8':
    case 'i8':
    case 'u16':
    case 'i16':
    case 'u32':
    case 'i32': {
      const [lo, hi] = RANGES[v.type]!;
      if (!Number.isInteger(v.value) || v.value < lo || v.value > hi) throw invalid(`${what}: ${v.value} is not a ${v.type}`);
      writeTyped(s, v.type, [v.value]);
      return;
    }
    case 'f32':
    case 'f64':
      if (typeof v.value !== 'number') throw invalid(`${what}: ${String((v as { value: unknown }).value)} is not a number`);
      writeTyped(s, v.type, [v.value]);
      return;
    case 'u64':
    case 'i64': {
      const lo = v.type === 'u64' ? 0n : -(1n << 63n);
      const hi = v.type === 'u64' ? (1n << 64n) - 1n : (1n << 63n) - 1n;
      if (typeof v.value !== 'bigint' || v.value < lo || v.value > hi) throw invalid(`${what}: ${String(v.value)} is not a ${v.type} (a bigint)`);
      writeTyped(s, v.type, [v.value]);
      return;
    }
    case 'bool':
      s.u8(v.value ? 1 : 0);
      return;
    case 'string':
      if (typeof v.value !== 'string') throw invalid(`${what}: not a string`);
      s.string(v.value);
      return;
    case 'array':
      writeArray(s, v, what, 1);
      return;
    default:
      throw invalid(`${what}: unknown value type '${String((v as unknown as { type: unknown }).type)}'`);
  }
}

function writeTyped(s: Sink, type: keyof typeof GGUF_TYPED_ARRAYS, items: ArrayLike<number> | ArrayLike<bigint>): void {
  const Ctor = GGUF_TYPED_ARRAYS[type] as unknown as { new (n: number): { set(a: ArrayLike<unknown>): void; buffer: ArrayBufferLike } };
  const a = new Ctor(items.length);
  a.set(items);
  s.bytes(new Uint8Array(a.buffer, 0, items.length * GGUF_FIXED_SIZES[type]!));
}

function writeArray(s: Sink, v: GgufArray, what: string, depth: number): void {
  if (depth > GGUF_MAX_NESTING) throw invalid(`${what} nests arrays more than ${GGUF_MAX_NESTING} deep`);
  const code = GGUF_VALUE_TYPES[v.itemType];
  if (code === undefined) throw invalid(`${what}: unknown item type '${String(v.itemType)}'`);
  s.u32(code);
  s.u64(v.value.length);
  switch (v.itemType) {
    case 'string':
      for (const x of v.value) {
        if (typeof x !== 'string') throw invalid(`${what}: an item is not a string`);
        s.string(x);
      }
      return;
    case 'bool':
      for (const x of v.value) s.u8(x ? 1 : 0);
      return;
    case 'array':
      v.value.forEach((x, i) => {
        if (x?.type !== 'array') throw invalid(`${what}: item ${i} is not an array`);
        writeArray(s, x, `item ${i} of ${what}`, depth + 1);
      });
      return;
    default: {
      const Ctor = GGUF_TYPED_ARRAYS[v.itemType];
      if (!(v.value instanceof Ctor)) throw invalid(`${what}: ${v.itemType} items must be a ${Ctor.name}`);
      writeTyped(s, v.itemType, v.value as ArrayLike<number>);
    }
  }
}

function alignmentOf(metadata: ReadonlyMap<string, GgufValue>): number {
  const al = metadata.get('general.alignment');
  if (al === undefined) return GGUF_DEFAULT_ALIGNMENT;
  if (al.type !== 'u32' || al.value === 0 || (al.value & (al.value - 1)) !== 0) throw invalid('general.alignment must be a u32 power of two');
  return al.value;
}

/**
 * The header bytes of a GGUF v3 file holding `tensors` (in this order, each at the next offset
 * that is a multiple of `general.alignment`, default 32) and `metadata` (in its Map order), the
 * way ggml's own writer lays a file out, with the header a reader will decode from it. Names of
 * more than 63 bytes, dims a row cannot hold whole blocks of, and values out of their type's range
 * are INVALID_ARGUMENT.
 */
export function encodeGgufHeader(metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorSpec[]): GgufLayout {
  const alignment = alignmentOf(metadata);
  const s = new Sink();
  s.u32(GGUF_MAGIC);
  s.u32(3);
  s.u64(tensors.length);
  s.u64(metadata.size);
  for (const [key, v] of metadata) {
    if (key.length === 0) throw invalid('a key is empty');
    s.string(key);
    s.u32(GGUF_VALUE_TYPES[v.type]);
    writeScalar(s, v, `key '${key}'`);
  }
  const names = new Set<string>();
  const infos: GgufTensorInfo[] = [];
  let offset = 0n;
  const A = BigInt(alignment);
  for (const t of tensors) {
    if (encoder.encode(t.name).length > GGUF_MAX_NAME_BYTES) throw invalid(`tensor name '${t.name}' is longer than ${GGUF_MAX_NAME_BYTES} bytes`);
    if (names.has(t.name)) throw invalid(`two tensors are named '${t.name}'`);
    names.add(t.name);
    if (t.dims.length > GGUF_MAX_DIMS || t.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw invalid(`tensor '${t.name}': dims [${t.dims.join(', ')}] are not 0-${GGUF_MAX_DIMS} non-negative integers`);
    const elements = t.dims.reduce((a, b) => a * b, 1);
    const row = t.dims[0] ?? 1;
    if (row % t.type.blockSize !== 0) throw invalid(`tensor '${t.name}': rows of ${row} values are not whole ${t.type.name} blocks of ${t.type.blockSize}`);
    const byteLength = (elements / t.type.blockSize) * t.type.typeSize;
    s.string(t.name);
    s.u32(t.dims.length);
    for (const d of t.dims) s.u64(d);
    s.u32(t.type.id);
    s.u64(offset);
    infos.push({ name: t.name, dims: [...t.dims], type: t.type, offset, elements, byteLength });
    offset += ((BigInt(byteLength) + A - 1n) / A) * A;
  }
  s.pad(alignment);
  const headerBytes = s.result();
  const header: GgufHeader = { version: 3, metadata, tensors: infos, alignment, dataOffset: BigInt(headerBytes.length) };
  return { headerBytes, header, fileSize: BigInt(headerBytes.length) + offset };
}

/** A whole GGUF file in memory (small models, tests): the header, then each tensor's bytes padded with zeros. */
export function encodeGguf(metadata: ReadonlyMap<string, GgufValue>, tensors: readonly (GgufTensorSpec & { readonly data: Uint8Array })[]): Uint8Array {
  const layout = encodeGgufHeader(metadata, tensors);
  const out = new Uint8Array(Number(layout.fileSize));
  out.set(layout.headerBytes);
  tensors.forEach((t, i) => {
    const info = layout.header.tensors[i]!;
    if (t.data.length !== info.byteLength) throw invalid(`tensor '${t.name}' has ${t.data.length} bytes, its dims and type need ${info.byteLength}`);
    out.set(t.data, layout.headerBytes.length + Number(info.offset));
  });
  return out;
}
