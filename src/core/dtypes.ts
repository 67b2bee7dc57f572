import { QuantError } from './errors.js';
import { outputArray } from './output-array.js';

/** Bit widths quantkit quantizes to. */
export const QUANT_BITS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16] as const;
export type QuantBits = (typeof QUANT_BITS)[number];
export type QuantDtypeName = `int${QuantBits}` | `uint${QuantBits}`;

/** The typed array a code of a given width is stored in (unpacked, one code per element). */
export type CodeStorage = 'int8' | 'uint8' | 'int16' | 'uint16';
export type CodeArray = Int8Array | Uint8Array | Int16Array | Uint16Array;

export interface QuantDtype {
  readonly name: QuantDtypeName;
  readonly bits: QuantBits;
  readonly signed: boolean;
  /** Full range: [-2^(b-1), 2^(b-1) - 1] signed, [0, 2^b - 1] unsigned. */
  readonly qmin: number;
  readonly qmax: number;
  /** Smallest integer typed array that holds every code. */
  readonly storage: CodeStorage;
  /** Codes per byte when packed as ONNX stores sub-byte types (2 for 4-bit, 4 for 2-bit), else 0. */
  readonly perByte: 0 | 2 | 4;
}

function makeDtype(bits: QuantBits, signed: boolean): QuantDtype {
  const name = `${signed ? 'int' : 'uint'}${bits}` as QuantDtypeName;
  const qmin = signed ? -(2 ** (bits - 1)) : 0;
  const qmax = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const storage: CodeStorage = bits <= 8 ? (signed ? 'int8' : 'uint8') : signed ? 'int16' : 'uint16';
  const perByte = bits === 4 ? 2 : bits === 2 ? 4 : 0;
  return Object.freeze({ name, bits, signed, qmin, qmax, storage, perByte });
}

/** The one table of integer dtypes: int2..int16 and uint2..uint16. */
export const QUANT_DTYPES: Readonly<Record<QuantDtypeName, QuantDtype>> = Object.freeze(
  Object.fromEntries(
    QUANT_BITS.flatMap((b) => [makeDtype(b, true), makeDtype(b, false)]).map((d) => [d.name, d]),
  ) as Record<QuantDtypeName, QuantDtype>,
);

export const QUANT_DTYPE_NAMES = Object.keys(QUANT_DTYPES) as QuantDtypeName[];

export function isQuantDtypeName(name: string): name is QuantDtypeName {
  return Object.prototype.hasOwnProperty.call(QUANT_DTYPES, name);
}

/** Looks a dtype up by name; an unknown name is an error that lists the known ones. */
export function getQuantDtype(name: string): QuantDtype {
  if (!isQuantDtypeName(name)) {
    throw new QuantError(
      'UNKNOWN_DTYPE',
      `unknown dtype '${name}': expected one of ${QUANT_DTYPE_NAMES.join(', ')}`,
    );
  }
  return QUANT_DTYPES[name];
}

/**
 * The integer range codes are clamped to. `narrow` (signed only) drops the most negative code so
 * the range is symmetric: qmin = -(2^(b-1) - 1), as ONNX Runtime and TensorRT use for weights.
 */
export function quantRange(dtype: QuantDtype, narrow = false): { qmin: number; qmax: number } {
  if (!narrow) return { qmin: dtype.qmin, qmax: dtype.qmax };
  if (!dtype.signed) {
    throw new QuantError('INVALID_ARGUMENT', `narrow range applies to signed dtypes, got '${dtype.name}'`);
  }
  return { qmin: dtype.qmin + 1, qmax: dtype.qmax };
}

const CODE_ARRAY_CTORS = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
} as const;

/** A new, zeroed code array for n codes of this dtype. */
export function allocCodes(dtype: QuantDtype, n: number): CodeArray {
  return new CODE_ARRAY_CTORS[dtype.storage](n);
}

/** A new code array for n codes that the caller overwrites entirely (uninitialized where possible: see output-array.ts). */
export function outputCodeArray(dtype: QuantDtype, n: number): CodeArray {
  return outputArray(CODE_ARRAY_CTORS[dtype.storage], n);
}

/** The storage kind of an existing code array (undefined for any other array). */
export function codeStorageOf(a: ArrayBufferView): CodeStorage | undefined {
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Uint16Array) return 'uint16';
  return undefined;
}
