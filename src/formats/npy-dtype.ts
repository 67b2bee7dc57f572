import type { CodeArray } from '../core/dtypes.js';
import { CODE_ARRAY_NAMES_TEXT, codeStorageOf } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import { quotePython } from './python-literal.js';

/** The numeric element types a .npy file may hold here (numpy's names). */
export type NpyDtype =
  | 'bool'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'complex64'
  | 'complex128';

/**
 * Element storage after decoding: float16 is a Uint16Array of raw IEEE half bits, bool a Uint8Array
 * of 0/1, complex interleaved (re, im) in a Float32Array/Float64Array of length 2·size.
 */
export type NpyData =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

type TypedCtor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

export interface NpyDtypeInfo {
  /** numpy's kind and size as in a descr, without the byte-order character: 'f4', 'c8', 'b1'. */
  readonly code: string;
  /** Bytes per element (both parts of a complex number). */
  readonly itemSize: number;
  /** Typed-array elements per array element: 2 for complex (re, im), else 1. */
  readonly components: 1 | 2;
  readonly ctor: TypedCtor;
}

/** The one table of .npy dtypes; descr parsing, encoding and storage all derive from it. */
export const NPY_DTYPES = {
  bool: { code: 'b1', itemSize: 1, components: 1, ctor: Uint8Array },
  int8: { code: 'i1', itemSize: 1, components: 1, ctor: Int8Array },
  uint8: { code: 'u1', itemSize: 1, components: 1, ctor: Uint8Array },
  int16: { code: 'i2', itemSize: 2, components: 1, ctor: Int16Array },
  uint16: { code: 'u2', itemSize: 2, components: 1, ctor: Uint16Array },
  int32: { code: 'i4', itemSize: 4, components: 1, ctor: Int32Array },
  uint32: { code: 'u4', itemSize: 4, components: 1, ctor: Uint32Array },
  int64: { code: 'i8', itemSize: 8, components: 1, ctor: BigInt64Array },
  uint64: { code: 'u8', itemSize: 8, components: 1, ctor: BigUint64Array },
  float16: { code: 'f2', itemSize: 2, components: 1, ctor: Uint16Array },
  float32: { code: 'f4', itemSize: 4, components: 1, ctor: Float32Array },
  float64: { code: 'f8', itemSize: 8, components: 1, ctor: Float64Array },
  complex64: { code: 'c8', itemSize: 8, components: 2, ctor: Float32Array },
  complex128: { code: 'c16', itemSize: 16, components: 2, ctor: Float64Array },
} as const satisfies Record<NpyDtype, NpyDtypeInfo>;

export const NPY_DTYPE_NAMES = Object.keys(NPY_DTYPES) as NpyDtype[];

const BY_CODE: ReadonlyMap<string, NpyDtype> = new Map(
  NPY_DTYPE_NAMES.map((name) => [NPY_DTYPES[name].code, name]),
);

/** True when this machine stores multi-byte numbers little-endian (every current JS engine does). */
export const PLATFORM_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Parses a numpy descr string ('<f4', '>i8', '|b1', '=u2', 'f8') into a dtype and byte order. '|'
 * and '=' mean the machine's own order. Anything else numpy can store (strings '<U8', objects 'O',
 * datetimes, long doubles) is UNSUPPORTED, naming the descr.
 */
export function parseNpyDescr(descr: string): { dtype: NpyDtype; littleEndian: boolean } {
  const m = /^([<>|=]?)([a-zA-Z]\d*)$/.exec(descr);
  const dtype = m ? BY_CODE.get(m[2]) : undefined;
  if (!m || dtype === undefined) {
    throw new QuantError(
      'UNSUPPORTED',
      `unsupported .npy dtype descr ${quotePython(descr)}: expected a numeric one (${NPY_DTYPE_NAMES.map((n) => NPY_DTYPES[n].code).join(', ')} with <, > or |)`,
      { details: { descr } },
    );
  }
  const order = m[1];
  const littleEndian = order === '<' ? true : order === '>' ? false : PLATFORM_LITTLE_ENDIAN;
  return { dtype, littleEndian: NPY_DTYPES[dtype].itemSize === 1 ? true : littleEndian };
}

/** The descr numpy writes for a dtype: '|' for single bytes, else '<' or '>'. */
export function npyDescrOf(dtype: NpyDtype, littleEndian = true): string {
  const info = NPY_DTYPES[dtype];
  const order = info.itemSize === 1 ? '|' : littleEndian ? '<' : '>';
  return order + info.code;
}

/** The dtype whose storage an existing quantization code array has. */
export function npyDtypeOfCodes(codes: CodeArray): NpyDtype {
  // The storage kinds are named as numpy names those dtypes.
  const storage = codeStorageOf(codes);
  if (storage !== undefined) return storage;
  throw new QuantError('INVALID_ARGUMENT', `expected ${CODE_ARRAY_NAMES_TEXT} of codes, got ${describeValue(codes)}`);
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
