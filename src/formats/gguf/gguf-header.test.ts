import { describe, expect, it } from 'vitest';
import { expectQuantError } from '../../../test/helpers/quant-error.js';
import { GGML_TYPES } from '../../core/ggml/index.js';
import { encodeGguf, encodeGgufHeader } from './encode-gguf-header.js';
import { decodeGgufHeader, tryDecodeGgufHeader } from './gguf-header.js';
import type { GgufValue } from './gguf-value.js';

const every: [string, GgufValue][] = [
  ['u8', { type: 'u8', value: 255 }],
  ['i8', { type: 'i8', value: -128 }],
  ['u16', { type: 'u16', value: 65535 }],
  ['i16', { type: 'i16', value: -32768 }],
  ['u32', { type: 'u32', value: 0xffffffff }],
  ['i32', { type: 'i32', value: -0x80000000 }],
  ['f32', { type: 'f32', value: Math.fround(0.1) }],
  ['f64', { type: 'f64', value: 0.1 }],
  ['u64', { type: 'u64', value: 2n ** 64n - 1n }],
  ['i64', { type: 'i64', value: -(2n ** 63n) }],
  ['bool', { type: 'bool', value: true }],
  ['string', { type: 'string', value: 'héllo ▁wörld\n' }],
  ['a.u8', { type: 'array', itemType: 'u8', value: Uint8Array.of(1, 2, 3) }],
  ['a.i16', { type: 'array', itemType: 'i16', value: Int16Array.of(-1, 7) }],
  ['a.f32', { type: 'array', itemType: 'f32', value: Float32Array.of(1.5, -0) }],
  ['a.f64', { type: 'array', itemType: 'f64', value: Float64Array.of(Math.PI) }],
  ['a.u64', { type: 'array', itemType: 'u64', value: BigUint64Array.of(2n ** 53n + 1n) }],
  ['a.i64', { type: 'array', itemType: 'i64', value: BigInt64Array.of(-5n) }],
  ['a.bool', { type: 'array', itemType: 'bool', value: [true, false] }],
  ['a.string', { type: 'array', itemType: 'string', value: ['', 'a', '\u2581b'] }],
  ['a.empty', { type: 'array', itemType: 'i32', value: new Int32Array(0) }],
  [
    'a.nested',
    {
      type: 'array',
      itemType: 'array',
      value: [
        { type: 'array', itemType: 'u32', value: Uint32Array.of(1, 2) },
        { type: 'array', itemType: 'string', value: ['x'] },
        { type: 'array', itemType: 'array', value: [{ type: 'array', itemType: 'bool', value: [] }] },
      ],
    },
  ],
];

const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

function small(metadata = new Map<string, GgufValue>(every)) {
  return encodeGguf(metadata, [
    { name: 'w', dims: [64, 3], type: GGML_TYPES.Q8_0, data: bytesOf(2 * 3 * 34, 1) },
    { name: 'n', dims: [5], type: GGML_TYPES.F32, data: bytesOf(20, 2) },
    { name: 'e', dims: [0, 4], type: GGML_TYPES.F16, data: new Uint8Array(0) },
  ]);
}

describe('GGUF header: write, then read back', () => {
  it('keeps every value type, nested arrays, 64-bit integers beyond 2^53, key order and tensor layout', () => {
    const file = small();
    const h = decodeGgufHeader(file);
    expect(h.version).toBe(3);
    expect([...h.metadata.keys()]).toEqual(every.map(([k]) => k));
    for (const [k, v] of every) expect(h.metadata.get(k)).toEqual(v);
    expect(h.tensors.map((t) => [t.name, t.dims, t.type.name, t.offset, t.byteLength])).toEqual([
      ['w', [64, 3], 'Q8_0', 0n, 204],
      ['n', [5], 'F32', 224n, 20],
      ['e', [0, 4], 'F16', 256n, 0],
    ]);
    expect(Number(h.dataOffset) % 32).toBe(0);
    const start = Number(h.dataOffset);
    expect(file.subarray(start, start + 204)).toEqual(bytesOf(204, 1));
    // Padding is zeros, and the header re-encodes to the same bytes.
    expect(file.subarray(start + 204, start + 224).every((b) => b === 0)).toBe(true);
    expect(encodeGgufHeader(h.metadata, h.tensors).headerBytes).toEqual(file.subarray(0, start));
  });

  it('pads to general.alignment when the file sets it', () => {
    const file = encodeGguf(new Map<string, GgufValue>([['general.alignment', { type: 'u32', value: 256 }]]), [
      { name: 'a', dims: [3], type: GGML_TYPES.F32, data: bytesOf(12, 0) },
      { name: 'b', dims: [1], type: GGML_TYPES.F32, data: bytesOf(4, 0) },
    ]);
    const h = decodeGgufHeader(file);
    expect(h.alignment).toBe(256);
    expect(h.dataOffset).toBe(256n);
    expect(h.tensors[1]!.offset).toBe(256n);
    // ggml pads after every tensor, the last one too.
    expect(file.length).toBe(256 + 256 + 256);
  });

  it('reads version 2 files (the same layout)', () => {
    const file = small();
    file[4] = 2;
    expect(decodeGgufHeader(file).version).toBe(2);
  });

  it('from a prefix: says how many bytes it needs, then reads the header from them alone', () => {
    const file = small();
    const h = decodeGgufHeader(file);
    let n = 16;
    let r = tryDecodeGgufHeader(file.subarray(0, n), file.length);
    let rounds = 0;
    while ('needBytes' in r) {
      expect(r.needBytes).toBeGreaterThan(n);
      n = r.needBytes;
      r = tryDecodeGgufHeader(file.subarray(0, n), file.length);
      rounds++;
    }
    expect(rounds).toBeGreaterThan(3);
    expect(n).toBeLessThanOrEqual(Number(h.dataOffset));
    expect(r).toEqual(h);
  });
});

describe('GGUF header: malformed files are one clear error', () => {
  const file = small();
  const h = decodeGgufHeader(file);
  const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const edit = (f: (b: Uint8Array) => void) => {
    const b = file.slice();
    f(b);
    return b;
  };
  /** Byte position of tensor `name`'s info (its name's length field). */
  const infoAt = (name: string) => {
    const enc = new TextEncoder().encode(name);
    for (let i = 0; i < file.length - enc.length - 8; i++) {
      if (dv(file).getBigUint64(i, true) === BigInt(enc.length) && enc.every((c, j) => file[i + 8 + j] === c) && dv(file).getUint32(i + 8 + enc.length, true) <= 4) return i;
    }
    throw new Error(name);
  };

  it('names what is wrong', () => {
    expectQuantError(() => decodeGgufHeader(edit((b) => (b[0] = 0x47 + 1))), 'MALFORMED_FILE', /not a GGUF file: it starts with 'HGUF'/);
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setUint32(4, 1, true))), 'UNSUPPORTED', /version 1/);
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setUint32(4, 0x03000000, true))), 'UNSUPPORTED', /big-endian/);
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setUint32(4, 4, true))), 'UNSUPPORTED', /version 4 is not read/);
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setBigUint64(8, 2n ** 62n, true))), 'MALFORMED_FILE', /tensor count is 4611686018427387904, more than the \d+ bytes left/);
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setBigUint64(16, 2n ** 64n - 1n, true))), 'MALFORMED_FILE', /key-value count/);
    expectQuantError(() => decodeGgufHeader(file.subarray(0, 300)), 'MALFORMED_FILE', /the file ends at byte 300 inside/);
    // Key 1 ('i8') renamed 'u8': the same key twice.
    expectQuantError(() => decodeGgufHeader(edit((b) => b.set([0x75, 0x38], 24 + 8 + 2 + 4 + 1 + 8))), 'MALFORMED_FILE', /key 'u8' appears twice/);
    // The first value's type code made 13.
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setUint32(24 + 8 + 2, 13, true))), 'MALFORMED_FILE', /key 'u8' has value type 13/);
    const w = infoAt('w');
    const typeAt = w + 8 + 1 + 4 + 16;
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setUint32(typeAt, 4, true))), 'UNSUPPORTED', /tensor 'w' has ggml type 4, which ggml does not define/);
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setUint32(typeAt, GGML_TYPES.Q4_K.id, true))), 'MALFORMED_FILE', /rows of 64 values, not a multiple of its block size 256/);
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setUint32(w + 8 + 1, 5, true))), 'MALFORMED_FILE', /tensor 'w' has 5 dimensions, at most 4/);
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setBigUint64(typeAt + 4, 8n, true))), 'MALFORMED_FILE', /tensor 'w' starts at offset 8, not a multiple of the alignment 32/);
    const nOffsetAt = infoAt('n') + 8 + 1 + 4 + 8 + 4;
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setBigUint64(nOffsetAt, 192n, true))), 'MALFORMED_FILE', /tensors 'w' and 'n' overlap/);
    expectQuantError(() => decodeGgufHeader(edit((b) => dv(b).setBigUint64(typeAt + 4, 2n ** 63n, true))), 'MALFORMED_FILE', /tensor 'w' \(204 bytes at data offset 9223372036854775808\) ends past the end of the file/);
    expectQuantError(() => decodeGgufHeader(file.subarray(0, Number(h.dataOffset) + 100)), 'MALFORMED_FILE', /tensor '(w|n)' .* ends past the end of the file/);
  });

  it('refuses bools other than 0 and 1, bad alignments and over-long names', () => {
    const b = encodeGguf(new Map<string, GgufValue>([['b', { type: 'bool', value: true }]]), []);
    b[24 + 8 + 1 + 4] = 2;
    expectQuantError(() => decodeGgufHeader(b), 'MALFORMED_FILE', /key 'b': a bool must be 0 or 1, got 2/);
    b[24 + 8 + 1 + 4] = 0;
    expect(decodeGgufHeader(b).metadata.get('b')).toEqual({ type: 'bool', value: false });
    const al = encodeGguf(new Map<string, GgufValue>([['general.alignment', { type: 'u32', value: 32 }]]), []);
    new DataView(al.buffer).setUint32(24 + 8 + 17 + 4, 48, true);
    expectQuantError(() => decodeGgufHeader(al), 'MALFORMED_FILE', /general.alignment must be a power of two, got 48/);
    expectQuantError(() => encodeGguf(new Map<string, GgufValue>([['general.alignment', { type: 'u16', value: 32 }]]), []), 'INVALID_ARGUMENT', /general.alignment must be a u32/);
    expectQuantError(() => encodeGguf(new Map(), [{ name: 'x'.repeat(64), dims: [1], type: GGML_TYPES.F32, data: new Uint8Array(4) }]), 'INVALID_ARGUMENT', /longer than 63 bytes/);
  });

  it('the writer refuses values out of their type and data of the wrong size', () => {
    expectQuantError(() => encodeGgufHeader(new Map<string, GgufValue>([['k', { type: 'u8', value: 256 }]]), []), 'INVALID_ARGUMENT', /256 is not a u8/);
    expectQuantError(() => encodeGgufHeader(new Map<string, GgufValue>([['k', { type: 'i64', value: 2n ** 63n }]]), []), 'INVALID_ARGUMENT', /is not a i64/);
    expectQuantError(() => encodeGgufHeader(new Map<string, GgufValue>([['k', { type: 'array', itemType: 'f32', value: [1] as unknown as Float32Array }]]), []), 'INVALID_ARGUMENT', /f32 items must be a Float32Array/);
    expectQuantError(() => encodeGguf(new Map(), [{ name: 'w', dims: [32], type: GGML_TYPES.Q8_0, data: new Uint8Array(33) }]), 'INVALID_ARGUMENT', /has 33 bytes, its dims and type need 34/);
    expectQuantError(() => encodeGguf(new Map(), [{ name: 'w', dims: [31], type: GGML_TYPES.Q8_0, data: new Uint8Array(0) }]), 'INVALID_ARGUMENT', /rows of 31 values are not whole Q8_0 blocks of 32/);
  });
});
