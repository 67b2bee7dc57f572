import { QuantError } from './errors.js';
import { outputArray } from './output-array.js';

/** Bit widths quantkit quantizes to. */
export const QUANT_BITS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16] as const;
export type QuantBits = (typeof QUANT_BITS)[number];
export type QuantDtypeName = `int${QuantBits}` | `uint${QuantBits}`;

/**
 * The typed arrays codes are stored in (unpacked, one code per element), by storage kind: the
 * signedness, the constructor, the range an element holds and the array's name. Every map from a kind to a typed
 * array, and from an array back to its kind, derives from this table.
 */
export const CODE_STORAGES = Object.freeze({
  int8: Object.freeze({ signed: true, ctor: Int8Array, min: -128, max: 127, arrayName: 'Int8Array' }),
  uint8: Object.freeze({ signed: false, ctor: Uint8Array, min: 0, max: 255, arrayName: 'Uint8Array' }),
  int16: Object.freeze({ signed: true, ctor: Int16Array, min: -32768, max: 32767, arrayName: 'Int16Array' }),
  uint16: Object.freeze({ signed: false, ctor: Uint16Array, min: 0, max: 65535, arrayName: 'Uint16Array' }),
} as const);

/** The typed array a code of a given width is stored in (unpacked, one code per element). */
export type CodeStorage = keyof typeof CODE_STORAGES;
// Spelled out rather than InstanceType<…ctor>, which would narrow each array to an ArrayBuffer (not a SharedArrayBuffer) backing.
export type CodeArray = Int8Array | Uint8Array | Int16Array | Uint16Array;
/** A constructor of one of the code arrays (typed as Uint8Array's so `new` and views of it type-check). */
export type CodeArrayConstructor = typeof Uint8Array;

export const CODE_STORAGE_NAMES = Object.freeze(Object.keys(CODE_STORAGES) as CodeStorage[]);

/** The constructor of a storage kind's code array. */
export function codeArrayConstructor(storage: CodeStorage): CodeArrayConstructor {
  return CODE_STORAGES[storage].ctor as CodeArrayConstructor;
}

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
  // The smallest storage of the same signedness whose range holds every code.
  const storage = CODE_STORAGE_NAMES.find((k) => CODE_STORAGES[k].signed === signed && CODE_STORAGES[k].min <= qmin && qmax <= CODE_STORAGES[k].max)!;
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

/** A new, zeroed code array for n codes of this dtype. */
export function allocCodes(dtype: QuantDtype, n: number): CodeArray {
  return new (codeArrayConstructor(dtype.storage))(n);
}

/** A new code array for n codes that the caller overwrites entirely (uninitialized where possible: see output-array.ts). */
export function outputCodeArray(dtype: QuantDtype, n: number): CodeArray {
  return outputArray(codeArrayConstructor(dtype.storage), n);
}

/**
 * The storage kind of an existing code array (undefined for any other array). `exact` asks for
 * the constructor itself, not a subclass (a Node Buffer is a Uint8Array by instanceof).
 */
export function codeStorageOf(a: unknown, exact = false): CodeStorage | undefined {
  for (const k of CODE_STORAGE_NAMES) {
    const ctor = CODE_STORAGES[k].ctor as CodeArrayConstructor;
    if (exact ? (a as { constructor?: unknown } | null)?.constructor === ctor : a instanceof ctor) return k;
  }
  return undefined;
}

/** "an Int8Array, Uint8Array, Int16Array or Uint16Array", for messages. */
export const CODE_ARRAY_NAMES_TEXT = `an ${CODE_STORAGE_NAMES.slice(0, -1)
  .map((k) => CODE_STORAGES[k].arrayName)
  .join(', ')} or ${CODE_STORAGES[CODE_STORAGE_NAMES[CODE_STORAGE_NAMES.length - 1]].arrayName}`;
