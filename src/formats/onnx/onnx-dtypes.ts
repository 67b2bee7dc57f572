import { QuantError } from '../../core/errors.js';

/**
 * The one table of ONNX tensor element types: the TensorProto.DataType code, the bytes per element
 * in raw_data (0.5 for 4-bit, 0.25 for 2-bit, 0 for strings), which typed field holds the values
 * when raw_data is not used, and the typed array quantkit reads them into.
 *
 * Typed fields follow onnx.proto: float → float_data; double → double_data; int64 → int64_data;
 * uint32, uint64 → uint64_data; every other numeric type (including float16 and bfloat16 bits,
 * 8-bit floats and packed 4-bit pairs) → int32_data, one element (or one packed byte) per entry.
 */
export const ONNX_DTYPES = {
  float32: { code: 1, bytes: 4, field: 'floatData', array: 'Float32Array' },
  uint8: { code: 2, bytes: 1, field: 'int32Data', array: 'Uint8Array' },
  int8: { code: 3, bytes: 1, field: 'int32Data', array: 'Int8Array' },
  uint16: { code: 4, bytes: 2, field: 'int32Data', array: 'Uint16Array' },
  int16: { code: 5, bytes: 2, field: 'int32Data', array: 'Int16Array' },
  int32: { code: 6, bytes: 4, field: 'int32Data', array: 'Int32Array' },
  int64: { code: 7, bytes: 8, field: 'int64Data', array: 'BigInt64Array' },
  string: { code: 8, bytes: 0, field: 'stringData', array: 'none' },
  bool: { code: 9, bytes: 1, field: 'int32Data', array: 'Uint8Array' },
  float16: { code: 10, bytes: 2, field: 'int32Data', array: 'Uint16Array' },
  float64: { code: 11, bytes: 8, field: 'doubleData', array: 'Float64Array' },
  uint32: { code: 12, bytes: 4, field: 'uint64Data', array: 'Uint32Array' },
  uint64: { code: 13, bytes: 8, field: 'uint64Data', array: 'BigUint64Array' },
  complex64: { code: 14, bytes: 8, field: 'floatData', array: 'Float32Array' },
  complex128: { code: 15, bytes: 16, field: 'doubleData', array: 'Float64Array' },
  bfloat16: { code: 16, bytes: 2, field: 'int32Data', array: 'Uint16Array' },
  float8e4m3fn: { code: 17, bytes: 1, field: 'int32Data', array: 'Uint8Array' },
  float8e4m3fnuz: { code: 18, bytes: 1, field: 'int32Data', array: 'Uint8Array' },
  float8e5m2: { code: 19, bytes: 1, field: 'int32Data', array: 'Uint8Array' },
  float8e5m2fnuz: { code: 20, bytes: 1, field: 'int32Data', array: 'Uint8Array' },
  uint4: { code: 21, bytes: 0.5, field: 'int32Data', array: 'Uint8Array' },
  int4: { code: 22, bytes: 0.5, field: 'int32Data', array: 'Int8Array' },
  float4e2m1: { code: 23, bytes: 0.5, field: 'int32Data', array: 'Uint8Array' },
  float8e8m0: { code: 24, bytes: 1, field: 'int32Data', array: 'Uint8Array' },
  uint2: { code: 25, bytes: 0.25, field: 'int32Data', array: 'Uint8Array' },
  int2: { code: 26, bytes: 0.25, field: 'int32Data', array: 'Int8Array' },
} as const satisfies Record<string, { code: number; bytes: number; field: string; array: string }>;

export type OnnxDtype = keyof typeof ONNX_DTYPES;
export const ONNX_DTYPE_NAMES = Object.keys(ONNX_DTYPES) as OnnxDtype[];

const BY_CODE = new Map<number, OnnxDtype>(ONNX_DTYPE_NAMES.map((n) => [ONNX_DTYPES[n].code, n]));

/** The dtype name of a TensorProto.DataType code; an unknown code is MALFORMED_FILE (the file says something quantkit cannot read). */
export function onnxDtypeOf(code: number): OnnxDtype {
  const name = BY_CODE.get(code);
  if (name === undefined) {
    throw new QuantError('MALFORMED_FILE', `unknown ONNX tensor data type ${code}: expected one of ${[...BY_CODE.keys()].join(', ')}`);
  }
  return name;
}

/** The TensorProto.DataType code of a dtype name. */
export function onnxDtypeCode(name: OnnxDtype): number {
  return ONNX_DTYPES[name].code;
}

/** Bytes the raw_data of `count` elements takes: sub-byte types pack, rounding the last byte up. */
export function rawByteLength(name: OnnxDtype, count: number): number {
  const bytes = ONNX_DTYPES[name].bytes;
  if (bytes >= 1) return bytes * count;
  return Math.ceil(count * bytes);
}
