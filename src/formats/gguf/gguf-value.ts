/**
 * GGUF metadata values. Each value carries its GGUF type, so a file read and written back keeps
 * every key's exact type (a u32 stays a u32). 64-bit integers are bigints; arrays of numbers are
 * typed arrays (a 150,000-token vocabulary's scores are one Float32Array, not 150,000 objects);
 * arrays may nest (the specification allows an array of arrays).
 */

/** GGUF's value type codes, as they are written in the file. */
export const GGUF_VALUE_TYPES = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

export type GgufValueType = keyof typeof GGUF_VALUE_TYPES;
export type GgufNumberType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64';
export type GgufBigintType = 'u64' | 'i64';

/** The typed array each numeric item type is held in. */
export interface GgufArrayItems {
  u8: Uint8Array;
  i8: Int8Array;
  u16: Uint16Array;
  i16: Int16Array;
  u32: Uint32Array;
  i32: Int32Array;
  f32: Float32Array;
  f64: Float64Array;
  u64: BigUint64Array;
  i64: BigInt64Array;
  bool: boolean[];
  string: string[];
  array: GgufArray[];
}

export type GgufArray = { [K in keyof GgufArrayItems]: { readonly type: 'array'; readonly itemType: K; readonly value: GgufArrayItems[K] } }[keyof GgufArrayItems];

export type GgufValue =
  | { readonly type: GgufNumberType; readonly value: number }
  | { readonly type: GgufBigintType; readonly value: bigint }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string }
  | GgufArray;

/** Bytes of one fixed-size item (numbers and bools); strings and arrays have no fixed size. */
export const GGUF_FIXED_SIZES: Readonly<Partial<Record<GgufValueType, number>>> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  u64: 8,
  i64: 8,
  f64: 8,
};

/** The typed array constructor of each numeric item type. */
export const GGUF_TYPED_ARRAYS = {
  u8: Uint8Array,
  i8: Int8Array,
  u16: Uint16Array,
  i16: Int16Array,
  u32: Uint32Array,
  i32: Int32Array,
  f32: Float32Array,
  f64: Float64Array,
  u64: BigUint64Array,
  i64: BigInt64Array,
} as const;

const NAMES = Object.keys(GGUF_VALUE_TYPES) as GgufValueType[];

/** The type named by code `code` in a file, or undefined. */
export function ggufValueTypeOf(code: number): GgufValueType | undefined {
  return NAMES.find((n) => GGUF_VALUE_TYPES[n] === code);
}

/** Plain JSON for a value (bigints as decimal strings when beyond 2^53, typed arrays as arrays), for --json output. */
export function ggufValueToJson(v: GgufValue): unknown {
  if (v.type === 'u64' || v.type === 'i64') return bigintToJson(v.value);
  if (v.type !== 'array') return v.value;
  if (v.itemType === 'array') return v.value.map(ggufValueToJson);
  if (v.itemType === 'u64' || v.itemType === 'i64') return Array.from(v.value as ArrayLike<bigint>, bigintToJson);
  return Array.from(v.value as ArrayLike<unknown>);
}

function bigintToJson(b: bigint): number | string {
  return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(b) : b.toString();
}
