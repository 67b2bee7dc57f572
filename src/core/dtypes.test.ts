import { describe, expect, it } from 'vitest';
import {
  allocCodes,
  CODE_ARRAY_NAMES_TEXT,
  CODE_STORAGE_NAMES,
  CODE_STORAGES,
  codeArrayConstructor,
  codeStorageOf,
  getQuantDtype,
  isQuantDtypeName,
  QUANT_BITS,
  QUANT_DTYPE_NAMES,
  QUANT_DTYPES,
  quantRange,
} from './dtypes.js';
import { QuantError } from './errors.js';

describe('the dtype table', () => {
  it('has int2..int16 and uint2..uint16: 30 dtypes', () => {
    expect(QUANT_DTYPE_NAMES).toHaveLength(30);
    const want = QUANT_BITS.flatMap((b) => [`int${b}`, `uint${b}`]).sort();
    expect([...QUANT_DTYPE_NAMES].sort()).toEqual(want);
    expect(Object.isFrozen(QUANT_DTYPES)).toBe(true);
  });

  it('gives each dtype its two-complement or unsigned range, storage and packing', () => {
    for (const name of QUANT_DTYPE_NAMES) {
      const d = getQuantDtype(name);
      const b = d.bits;
      expect(d.name).toBe(name);
      expect(d.signed).toBe(name.startsWith('int'));
      expect(d.qmin).toBe(d.signed ? -(2 ** (b - 1)) : 0);
      expect(d.qmax).toBe(d.signed ? 2 ** (b - 1) - 1 : 2 ** b - 1);
      expect(d.qmax - d.qmin).toBe(2 ** b - 1);
      expect(d.storage).toBe(`${d.signed ? 'int' : 'uint'}${b <= 8 ? 8 : 16}`);
      expect(d.perByte).toBe(b === 4 ? 2 : b === 2 ? 4 : 0);
      // The storage type holds every code.
      const codes = allocCodes(d, 2);
      codes[0] = d.qmin;
      codes[1] = d.qmax;
      expect(Array.from(codes)).toEqual([d.qmin, d.qmax]);
      expect(codeStorageOf(codes)).toBe(d.storage);
    }
  });

  it('spot-checks well-known ranges', () => {
    expect([QUANT_DTYPES.int8.qmin, QUANT_DTYPES.int8.qmax]).toEqual([-128, 127]);
    expect([QUANT_DTYPES.uint4.qmin, QUANT_DTYPES.uint4.qmax]).toEqual([0, 15]);
    expect([QUANT_DTYPES.int3.qmin, QUANT_DTYPES.int3.qmax]).toEqual([-4, 3]);
    expect([QUANT_DTYPES.uint16.qmin, QUANT_DTYPES.uint16.qmax]).toEqual([0, 65535]);
    expect([QUANT_DTYPES.int2.qmin, QUANT_DTYPES.int2.qmax]).toEqual([-2, 1]);
  });

  it('narrow drops the most negative code of signed types and rejects unsigned ones', () => {
    expect(quantRange(QUANT_DTYPES.int8, true)).toEqual({ qmin: -127, qmax: 127 });
    expect(quantRange(QUANT_DTYPES.int4, true)).toEqual({ qmin: -7, qmax: 7 });
    expect(quantRange(QUANT_DTYPES.int8)).toEqual({ qmin: -128, qmax: 127 });
    expect(() => quantRange(QUANT_DTYPES.uint8, true)).toThrow(QuantError);
    try {
      quantRange(QUANT_DTYPES.uint8, true);
    } catch (e) {
      expect((e as QuantError).code).toBe('INVALID_ARGUMENT');
      expect((e as QuantError).message).toContain('uint8');
    }
  });

  it('an unknown dtype is UNKNOWN_DTYPE and the message lists every known one', () => {
    for (const bad of ['int1', 'int17', 'float8', 'INT8', '', 'constructor', '__proto__', 'toString']) {
      expect(isQuantDtypeName(bad)).toBe(false);
      try {
        getQuantDtype(bad);
        throw new Error(`accepted ${bad}`);
      } catch (e) {
        expect(e).toBeInstanceOf(QuantError);
        expect((e as QuantError).code).toBe('UNKNOWN_DTYPE');
        expect((e as QuantError).message).toContain(`'${bad}'`);
        for (const name of QUANT_DTYPE_NAMES) expect((e as QuantError).message).toContain(name);
      }
    }
  });

  it('recognises only the four code array types', () => {
    expect(codeStorageOf(new Int8Array(1))).toBe('int8');
    expect(codeStorageOf(new Uint16Array(1))).toBe('uint16');
    expect(codeStorageOf(new Uint8ClampedArray(1))).toBeUndefined();
    expect(codeStorageOf(new Int32Array(1))).toBeUndefined();
    expect(codeStorageOf(new Float32Array(1))).toBeUndefined();
    expect(allocCodes(QUANT_DTYPES.uint12, 3)).toEqual(new Uint16Array(3));
  });
});

describe('the code-storage table', () => {
  it('stores each dtype in the smallest array of its signedness', () => {
    for (const d of Object.values(QUANT_DTYPES)) {
      expect(d.storage).toBe(`${d.signed ? '' : 'u'}int${d.bits <= 8 ? 8 : 16}`);
      const s = CODE_STORAGES[d.storage];
      expect(s.min <= d.qmin && d.qmax <= s.max).toBe(true);
    }
  });

  it("holds each array's true range and name, and maps arrays back to their kind", () => {
    for (const k of CODE_STORAGE_NAMES) {
      const ctor = codeArrayConstructor(k);
      const a = new ctor(2);
      a[0] = CODE_STORAGES[k].min - 1;
      a[1] = CODE_STORAGES[k].max + 1;
      // One past each end wraps to the other end: the table's range is the array's.
      expect([a[0], a[1]]).toEqual([CODE_STORAGES[k].max, CODE_STORAGES[k].min]);
      expect(ctor.name).toBe(CODE_STORAGES[k].arrayName);
      expect(codeStorageOf(a)).toBe(k);
    }
    expect(codeStorageOf(new Int32Array(1))).toBeUndefined();
    expect(codeStorageOf(new Uint8ClampedArray(1))).toBeUndefined();
    expect(CODE_ARRAY_NAMES_TEXT).toBe('an Int8Array, Uint8Array, Int16Array or Uint16Array');
  });

  it('tells a subclass (a Node Buffer) from the array itself when asked to', () => {
    class Sub extends Uint8Array {}
    expect(codeStorageOf(new Sub(1))).toBe('uint8');
    expect(codeStorageOf(new Sub(1), true)).toBeUndefined();
    expect(codeStorageOf(new Uint8Array(1), true)).toBe('uint8');
  });
});
