import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pooledCopy, viewAt } from '../../test/helpers/buffer-views.js';
import { expectQuantError } from '../../test/helpers/quant-error.js';
import type { NpyArray, NpyData, NpyDtype } from './npy.js';
import {
  bigintToFloat32,
  decodeNpy,
  encodeNpy,
  encodeNpyHeader,
  NPY_DTYPES,
  npyDescrOf,
  npyDtypeOfCodes,
  npyHeaderBytesNeeded,
  parseNpyDescr,
  parseNpyHeader,
  toFloat32,
} from './npy.js';

const FIXTURES = new URL('../../test/fixtures/npy/', import.meta.url);

interface Entry {
  file: string;
  kind: 'numpy' | 'handmade';
  dtype: NpyDtype;
  shape: number[];
  fortranOrder: boolean;
  littleEndian: boolean;
  descr: string;
  version: [number, number];
  writtenVersion: [number, number] | null;
  dataOffset: number;
  hex: string;
  float32Hex: string | null;
}

const manifest = JSON.parse(readFileSync(new URL('manifest.json', FIXTURES), 'utf8')) as { files: Entry[] };
const readFixture = (file: string): Uint8Array => new Uint8Array(readFileSync(new URL(file, FIXTURES)));

function hexOf(data: NpyData): string {
  return Array.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), (b) => b.toString(16).padStart(2, '0')).join('');
}

describe('decodeNpy against numpy-written fixtures', () => {
  it('covers every dtype, both byte orders, both memory orders, 0-d, empty and all versions', () => {
    const files = manifest.files;
    expect(new Set(files.map((e) => e.dtype)).size).toBe(14);
    expect(files.some((e) => !e.littleEndian) && files.some((e) => e.fortranOrder)).toBe(true);
    expect(files.some((e) => e.shape.length === 0) && files.some((e) => e.shape.includes(0))).toBe(true);
    expect(new Set(files.map((e) => e.version[0]))).toEqual(new Set([1, 2, 3]));
  });

  for (const e of manifest.files) {
    it(`${e.file} (${e.descr}, fortran ${e.fortranOrder}, v${e.version.join('.')})`, () => {
      const bytes = readFixture(e.file);
      const h = parseNpyHeader(bytes);
      expect(h).toEqual({
        version: e.version,
        dtype: e.dtype,
        littleEndian: e.littleEndian,
        fortranOrder: e.fortranOrder,
        shape: e.shape,
        dataOffset: e.dataOffset,
        itemSize: NPY_DTYPES[e.dtype].itemSize,
        dataBytes: e.hex.length / 2,
      });
      const arr = decodeNpy(bytes);
      expect(arr.dtype).toBe(e.dtype);
      expect(arr.shape).toEqual(e.shape);
      expect(arr.data).toBeInstanceOf(NPY_DTYPES[e.dtype].ctor);
      expect(hexOf(arr.data)).toBe(e.hex);
      if (e.kind === 'numpy') {
        // Our encoder reproduces numpy's file byte for byte, given the same layout choices.
        const again = encodeNpy(arr, {
          fortranOrder: e.fortranOrder,
          littleEndian: e.littleEndian,
          ...(e.writtenVersion ? { version: e.writtenVersion[0] as 1 | 2 | 3 } : {}),
        });
        expect(again).toEqual(bytes);
      }
    });
  }
});

describe('decodeNpy of a Buffer view into a larger allocation', () => {
  // A Node Buffer's own slice() is a view, so a copy taken that way and read from offset 0 of its
  // .buffer read whatever the shared pool held there: another request's bytes.
  const offsets = [1, 2, 3, 5, 8, 13];
  for (const e of manifest.files) {
    it(`${e.file} at offsets ${offsets.join(', ')} and in Node's pool: numpy's values, input untouched`, () => {
      const file = readFixture(e.file);
      const views = [...offsets.map((o) => viewAt(file, o)), pooledCopy(file, 5), pooledCopy(file, 6)];
      for (const view of views) {
        expect(view.byteOffset).toBeGreaterThan(0);
        const arr = decodeNpy(view);
        expect(arr.shape).toEqual(e.shape);
        expect(hexOf(arr.data)).toBe(e.hex);
        // Byte swapping works on a copy, never on the caller's bytes.
        expect(Buffer.from(view).equals(Buffer.from(file))).toBe(true);
        if (e.float32Hex !== null) expect(hexOf(toFloat32(arr))).toBe(e.float32Hex);
      }
    });
  }

  it('a big-endian float32 body in a pooled Buffer reads its own values, not the pool\'s', () => {
    const file = encodeNpy({ dtype: 'float32', shape: [6], data: Float32Array.from([0, 1, 2, 3, 4, 5]) }, { littleEndian: false });
    const arr = decodeNpy(pooledCopy(file, 37));
    expect(Array.from(arr.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('decodeNpy copies only when it must', () => {
  it('returns a view for little-endian C-order data at an aligned offset', () => {
    const bytes = readFixture('arrays/float32-le-C-2x3.npy');
    const arr = decodeNpy(bytes);
    expect(arr.data.buffer).toBe(bytes.buffer);
    expect(toFloat32(arr)).toBe(arr.data);
  });

  it('copies big-endian, Fortran-order and misaligned data', () => {
    const be = readFixture('arrays/float32-be-C-2x3.npy');
    expect(decodeNpy(be).data.buffer).not.toBe(be.buffer);
    const f = readFixture('arrays/float32-le-F-2x3.npy');
    expect(decodeNpy(f).data.buffer).not.toBe(f.buffer);
    const le = readFixture('arrays/float32-le-C-2x3.npy');
    const shifted = new Uint8Array(le.length + 1).subarray(1);
    shifted.set(le);
    const arr = decodeNpy(shifted);
    expect(arr.data.buffer).not.toBe(shifted.buffer);
    expect(hexOf(arr.data)).toBe(hexOf(decodeNpy(le).data));
  });

  it('reads any non-zero bool byte as 1, as numpy does', () => {
    const bytes = encodeNpy({ dtype: 'uint8', shape: [3], data: new Uint8Array([0, 2, 255]) });
    const boolBytes = encodeNpyHeader('bool', [3]);
    const file = new Uint8Array(boolBytes.length + 3);
    file.set(boolBytes);
    file.set(bytes.subarray(bytes.length - 3), boolBytes.length);
    expect(Array.from(decodeNpy(file).data as Uint8Array)).toEqual([0, 1, 1]);
  });
});

describe('encodeNpy', () => {
  const cases: NpyArray[] = [
    { dtype: 'float64', shape: [2, 3, 2], data: Float64Array.from({ length: 12 }, (_, i) => i * 1.5 - 3) },
    { dtype: 'complex64', shape: [3, 2], data: Float32Array.from({ length: 12 }, (_, i) => i) },
    { dtype: 'int64', shape: [2, 2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n]) },
    { dtype: 'float16', shape: [], data: new Uint16Array([0x3c00]) },
    { dtype: 'uint32', shape: [0, 4], data: new Uint32Array(0) },
  ];
  for (const arr of cases) {
    for (const fortranOrder of [false, true]) {
      for (const littleEndian of [true, false]) {
        for (const version of [1, 2, 3] as const) {
          it(`round-trips ${arr.dtype} [${arr.shape}] fortran=${fortranOrder} le=${littleEndian} v${version}`, () => {
            const bytes = encodeNpy(arr, { fortranOrder, littleEndian, version });
            const h = parseNpyHeader(bytes);
            expect(h.dataOffset % 64).toBe(0);
            expect(bytes[h.dataOffset - 1]).toBe(0x0a);
            expect(h.version).toEqual([version, 0]);
            const back = decodeNpy(bytes);
            expect(back.shape).toEqual(arr.shape);
            expect(hexOf(back.data)).toBe(hexOf(arr.data));
          });
        }
      }
    }
  }

  it('writes 1 and 0 for bool data', () => {
    const bytes = encodeNpy({ dtype: 'bool', shape: [3], data: new Uint8Array([0, 7, 1]) });
    expect(Array.from(bytes.subarray(bytes.length - 3))).toEqual([0, 1, 1]);
  });

  it('rejects data of the wrong type or length', () => {
    expectQuantError(() => encodeNpy({ dtype: 'float32', shape: [2], data: new Float64Array(2) }), 'INVALID_ARGUMENT', /Float32Array, got Float64Array/);
    expectQuantError(() => encodeNpy({ dtype: 'complex64', shape: [2], data: new Float32Array(2) }), 'SHAPE_MISMATCH', /needs 4 data elements, got 2/);
    expectQuantError(() => encodeNpyHeader('float32', [2, -1]), 'SHAPE_MISMATCH', /invalid dimension -1/);
    expectQuantError(() => encodeNpyHeader('float8' as NpyDtype, [2]), 'INVALID_ARGUMENT', /unknown .npy dtype 'float8'/);
  });

  it('picks version 2 only when the header does not fit version 1, and refuses version 1 then', () => {
    const shape = Array.from({ length: 25000 }, () => 1);
    expect(parseNpyHeader(encodeNpyHeader('uint8', [3])).version).toEqual([1, 0]);
    const big = encodeNpyHeader('uint8', shape);
    expect(big[6]).toBe(2);
    expect(parseNpyHeader(big).shape).toHaveLength(25000);
    expectQuantError(() => encodeNpyHeader('uint8', shape, { version: 1 }), 'INVALID_ARGUMENT', /too long for version 1/);
  });
});

describe('header helpers', () => {
  it('tells a streaming reader the header size from the first 12 bytes', () => {
    for (const version of [1, 2, 3] as const) {
      const file = encodeNpy({ dtype: 'int16', shape: [3], data: new Int16Array(3) }, { version });
      const needed = npyHeaderBytesNeeded(file.subarray(0, 12));
      expect(needed).toBe(parseNpyHeader(file).dataOffset);
      expect(parseNpyHeader(file.subarray(0, needed)).dataBytes).toBe(6);
    }
  });

  it('maps descrs both ways, with | and = meaning this machine', () => {
    expect(parseNpyDescr('>c16')).toEqual({ dtype: 'complex128', littleEndian: false });
    expect(parseNpyDescr('=f2')).toEqual({ dtype: 'float16', littleEndian: true });
    expect(parseNpyDescr('|u2')).toEqual({ dtype: 'uint16', littleEndian: true });
    expect(parseNpyDescr('f8')).toEqual({ dtype: 'float64', littleEndian: true });
    expect(parseNpyDescr('>i1')).toEqual({ dtype: 'int8', littleEndian: true });
    expect(npyDescrOf('bool', false)).toBe('|b1');
    expect(npyDescrOf('int64', false)).toBe('>i8');
    expect(npyDescrOf('complex64')).toBe('<c8');
  });

  it('names the dtype of a code array', () => {
    expect(npyDtypeOfCodes(new Int8Array(1))).toBe('int8');
    expect(npyDtypeOfCodes(new Uint8Array(1))).toBe('uint8');
    expect(npyDtypeOfCodes(new Int16Array(1))).toBe('int16');
    expect(npyDtypeOfCodes(new Uint16Array(1))).toBe('uint16');
    expectQuantError(() => npyDtypeOfCodes(new Float32Array(1) as never), 'INVALID_ARGUMENT', /got Float32Array/);
  });
});

describe('toFloat32', () => {
  it('converts every real dtype as numpy astype(float32) does', () => {
    expect(Array.from(toFloat32({ dtype: 'float16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x0001]) }))).toEqual([1, -2, 2 ** -24]);
    expect(Array.from(toFloat32({ dtype: 'float64', shape: [2], data: new Float64Array([0.1, 1e300]) }))).toEqual([Math.fround(0.1), Infinity]);
    expect(Array.from(toFloat32({ dtype: 'int32', shape: [2], data: new Int32Array([16777217, -5]) }))).toEqual([16777216, -5]);
    expect(Array.from(toFloat32({ dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) }))).toEqual([1, 0]);
    const big = toFloat32({ dtype: 'int64', shape: [3], data: BigInt64Array.from([2n ** 60n + 2n ** 36n + 1n, -(2n ** 63n), 3n]) });
    // Number() then fround would round twice and give 2^60 for the first.
    expect(Array.from(big)).toEqual([2 ** 60 + 2 ** 37, -(2 ** 63), 3]);
    expect(Array.from(toFloat32({ dtype: 'uint64', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) }))).toEqual([2 ** 64]);
  });

  it('rounds 64-bit integers once, ties to even', () => {
    expect(bigintToFloat32(2n ** 24n + 1n)).toBe(2 ** 24); // tie, even stays
    expect(bigintToFloat32(2n ** 24n + 3n)).toBe(2 ** 24 + 4); // tie, odd rounds up
    expect(bigintToFloat32(-(2n ** 40n) - 2n ** 16n - 1n)).toBe(-(2 ** 40) - 2 ** 17);
  });

  it('writes into a given buffer and checks its length', () => {
    const out = new Float32Array(2);
    expect(toFloat32({ dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) }, out)).toBe(out);
    expect(Array.from(out)).toEqual([1, 2]);
    expectQuantError(() => toFloat32({ dtype: 'int8', shape: [2], data: new Int8Array(2) }, new Float32Array(3)), 'SHAPE_MISMATCH', /3 elements/);
  });

  it('refuses complex data', () => {
    expectQuantError(() => toFloat32({ dtype: 'complex128', shape: [1], data: new Float64Array(2) }), 'UNSUPPORTED', /complex128/);
  });
});

describe('malformed and unsupported files', () => {
  const good = encodeNpy({ dtype: 'float32', shape: [2, 3], data: new Float32Array(6) });
  const withHeader = (dict: string, version = 1, data = new Uint8Array(0)): Uint8Array => {
    const body = new TextEncoder().encode(dict);
    const field = version === 1 ? 2 : 4;
    const total = Math.ceil((8 + field + body.length + 1) / 64) * 64;
    const out = new Uint8Array(total + data.length).fill(0x20);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
    new DataView(out.buffer).setUint32(8, total - 8 - field, true);
    if (field === 2) new DataView(out.buffer).setUint16(8, total - 10, true);
    out.set(body, 8 + field);
    out[total - 1] = 0x0a;
    out.set(data, total);
    return out;
  };

  it('bad magic', () => {
    const bad = good.slice();
    bad[1] = 0x50;
    expectQuantError(() => decodeNpy(bad), 'MALFORMED_FILE', /not a .npy file: expected the magic bytes .* got 93 50 55/);
    expectQuantError(() => decodeNpy(new TextEncoder().encode('PK\x03\x04 this is a zip')), 'MALFORMED_FILE', /not a .npy file/);
  });

  it('unknown version', () => {
    const bad = good.slice();
    bad[6] = 4;
    expectQuantError(() => decodeNpy(bad), 'MALFORMED_FILE', /unknown .npy format version 4.0/);
    bad[6] = 1;
    bad[7] = 1;
    expectQuantError(() => decodeNpy(bad), 'MALFORMED_FILE', /version 1.1/);
  });

  it('truncated header, saying how many bytes are needed', () => {
    const e1 = expectQuantError(() => parseNpyHeader(good.subarray(0, 5)), 'MALFORMED_FILE', /truncated .npy/);
    expect(e1.details).toEqual({ needBytes: 12 });
    const e2 = expectQuantError(() => parseNpyHeader(good.subarray(0, 9)), 'MALFORMED_FILE', /length field needs 10 bytes, got 9/);
    expect(e2.details).toEqual({ needBytes: 10 });
    const e3 = expectQuantError(() => parseNpyHeader(good.subarray(0, 40)), 'MALFORMED_FILE', /truncated .npy header: it needs 128 bytes, got 40/);
    expect(e3.details).toEqual({ needBytes: 128 });
    expect(parseNpyHeader(good.subarray(0, 128)).dataBytes).toBe(24);
  });

  it('truncated data and extra data', () => {
    expectQuantError(() => decodeNpy(good.subarray(0, 138)), 'MALFORMED_FILE', /truncated .npy: header says 24 bytes of data \(shape \[2, 3\] of float32\), file has 10/);
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    expectQuantError(() => decodeNpy(longer), 'MALFORMED_FILE', /header says 24 bytes of data .* file has 28/);
  });

  const badDicts: [string, RegExp][] = [
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", /expected ',' or '}', found end of header/],
    ["{'descr': '<f4', 'fortran_order': False}", /exactly the keys 'descr', 'fortran_order', 'shape', got 'descr', 'fortran_order'/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}", /got 'descr', 'extra', 'fortran_order', 'shape'/],
    ["{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", /duplicate 'descr'/],
    ["{'descr': '<f4', 'fortran_order': 0, 'shape': ()}", /fortran_order must be True or False, got 0/],
    ["{'descr': '<f4', 'fortran_order': false, 'shape': ()}", /expected a string, integer, True, False/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", /shape must be a tuple of integers, got \[2, 3\]/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", /',' after the single item of a tuple/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1)}", /invalid dimension -1/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}", /expected a string, integer/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': ('2',)}", /invalid dimension '2'/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999)}", /too large/],
    // numpy refuses it too ("array is too big"), though a zero makes it empty.
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 0, 99999999999)}", /too large/],
    ["{'descr': '<f4, 'fortran_order': False, 'shape': ()}", /expected ',' or '}'/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': ()} x", /only whitespace after the literal/],
    ["('<f4', False, ())", /expected a dict/],
    ["{descr: '<f4'}", /a quoted dict key/],
  ];
  for (const [dict, message] of badDicts) {
    it(`bad dict ${dict}`, () => {
      expectQuantError(() => parseNpyHeader(withHeader(dict)), 'MALFORMED_FILE', message);
    });
  }

  it('bad UTF-8 in a version 3 header', () => {
    const bytes = withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': ()}", 3);
    bytes[20] = 0xff;
    expectQuantError(() => parseNpyHeader(bytes), 'MALFORMED_FILE', /not valid UTF-8/);
  });

  it('shape and data disagree', () => {
    const bytes = withHeader("{'descr': '<i2', 'fortran_order': False, 'shape': (3,)}", 1, new Uint8Array(4));
    expectQuantError(() => decodeNpy(bytes), 'MALFORMED_FILE', /header says 6 bytes of data .* file has 4/);
  });

  const unsupported: [string, RegExp][] = [
    ["'<U8'", /unsupported .npy dtype descr '<U8'/],
    ["'|O'", /descr '\|O'/],
    ["'<M8[ns]'", /descr '<M8\[ns\]'/],
    ["'<f16'", /descr '<f16'/],
    ["[('x', '<f4'), ('y', '<i4')]", /descr \[\('x', '<f4'\), \('y', '<i4'\)\]: structured/],
    // Found by fuzzing: an escaped newline in the descr split the one-line message.
    [String.raw`'<f\n4'`, /descr '<f\\n4': expected a numeric one/],
    [String.raw`[('a\nb', '<f4')]`, /descr \[\('a\\nb', '<f4'\)\]: structured/],
  ];
  for (const [descr, message] of unsupported) {
    it(`unsupported descr ${descr}`, () => {
      expectQuantError(() => parseNpyHeader(withHeader(`{'descr': ${descr}, 'fortran_order': False, 'shape': (1,)}`)), 'UNSUPPORTED', message);
    });
  }
});
