import { QuantError } from '../core/errors.js';
import { float16BitsToFloat32 } from '../core/float16.js';
import type { NpyData, NpyDtype } from './npy-dtype.js';
import { describeValue, NPY_DTYPES, PLATFORM_LITTLE_ENDIAN } from './npy-dtype.js';
import type { NpyHeaderOptions } from './npy-header.js';
import { encodeNpyHeader, parseNpyHeader } from './npy-header.js';

export type { NpyData, NpyDtype } from './npy-dtype.js';
export { NPY_DTYPES, NPY_DTYPE_NAMES, npyDescrOf, npyDtypeOfCodes, parseNpyDescr } from './npy-dtype.js';
export type { NpyHeader, NpyHeaderOptions } from './npy-header.js';
export { encodeNpyHeader, npyHeaderBytesNeeded, parseNpyHeader } from './npy-header.js';

/** An array in this machine's byte order and C (row-major) order. */
export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Reverses the bytes of each `width`-byte word in place. */
function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/**
 * Reorders between Fortran (column-major) and C (row-major) order. With toC, src is column-major
 * and the result row-major; otherwise the reverse. `components` typed elements move together
 * (2 for complex).
 */
function reorder<T extends NpyData>(src: T, shape: readonly number[], components: number, toC: boolean): T {
  const dst = new (src.constructor as new (n: number) => T)(src.length);
  const rank = shape.length;
  const n = elementCount(shape);
  if (n === 0) return dst;
  // Column-major strides: walking the row-major index odometer, the column-major offset moves by these.
  const fStride = new Array<number>(rank);
  let s = components;
  for (let k = 0; k < rank; k++) {
    fStride[k] = s;
    s *= shape[k];
  }
  const idx = new Array<number>(rank).fill(0);
  let f = 0;
  const s2 = src as unknown as { [i: number]: number | bigint };
  const d2 = dst as unknown as { [i: number]: number | bigint };
  for (let c = 0; c < n * components; c += components) {
    for (let j = 0; j < components; j++) {
      if (toC) d2[c + j] = s2[f + j];
      else d2[f + j] = s2[c + j];
    }
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) {
        f += fStride[k];
        break;
      }
      f -= fStride[k] * (shape[k] - 1);
      idx[k] = 0;
    }
  }
  return dst;
}

/**
 * Decodes a whole .npy file. The result is in native byte order and C order: big-endian data is
 * byte-swapped and Fortran-order data transposed. Little-endian C-order data at an aligned offset
 * is returned as a view of `bytes` (no copy), so later writes to `bytes` show through.
 */
export function decodeNpy(bytes: Uint8Array): NpyArray {
  const h = parseNpyHeader(bytes);
  const available = bytes.length - h.dataOffset;
  if (available !== h.dataBytes) {
    const what = available < h.dataBytes ? 'truncated .npy' : 'bad .npy';
    throw new QuantError(
      'MALFORMED_FILE',
      `${what}: header says ${h.dataBytes} bytes of data (shape [${h.shape.join(', ')}] of ${h.dtype}), file has ${available}`,
      { details: { expectedBytes: h.dataBytes, actualBytes: available } },
    );
  }
  const info = NPY_DTYPES[h.dtype];
  const componentSize = info.itemSize / info.components;
  const count = elementCount(h.shape) * info.components;
  const start = bytes.byteOffset + h.dataOffset;
  const native = info.itemSize === 1 || h.littleEndian === PLATFORM_LITTLE_ENDIAN;
  let data: NpyData;
  if (native && start % componentSize === 0) {
    data = new info.ctor(bytes.buffer as ArrayBuffer, start, count);
  } else {
    // A fresh array, not bytes.slice(): a Node Buffer's slice is a view into its (often shared,
    // pooled) memory, so its .buffer would start at another allocation's bytes and swapping it
    // would write into the caller's input.
    const copy = new Uint8Array(h.dataBytes);
    copy.set(bytes.subarray(h.dataOffset, h.dataOffset + h.dataBytes));
    if (!native) swapBytes(copy, componentSize);
    data = new info.ctor(copy.buffer, 0, count);
  }
  if (h.dtype === 'bool') data = normalizeBool(data as Uint8Array);
  const transpose = h.fortranOrder && h.shape.filter((d) => d > 1).length > 1;
  if (transpose) data = reorder(data, h.shape, info.components, true);
  return { dtype: h.dtype, shape: h.shape, data };
}

/** numpy reads any non-zero byte as True; we promise 0/1, copying only if some byte is neither. */
function normalizeBool(data: Uint8Array): Uint8Array {
  for (let i = 0; i < data.length; i++) {
    if (data[i] > 1) {
      const out = new Uint8Array(data.length);
      for (let j = 0; j < data.length; j++) out[j] = data[j] === 0 ? 0 : 1;
      return out;
    }
  }
  return data;
}

/**
 * Encodes an array (native order, C order) as a .npy file numpy reads back identically; data
 * starts at a multiple of 64 bytes. Options choose the stored byte order, Fortran order and the
 * header version.
 */
export function encodeNpy(arr: NpyArray, opts: NpyHeaderOptions = {}): Uint8Array {
  const info = NPY_DTYPES[arr.dtype];
  const header = encodeNpyHeader(arr.dtype, arr.shape, opts);
  const expectedLength = elementCount(arr.shape) * info.components;
  if (!(arr.data instanceof info.ctor)) {
    throw new QuantError('INVALID_ARGUMENT', `dtype ${arr.dtype} needs its data in a ${info.ctor.name}, got ${describeValue(arr.data)}`);
  }
  if (arr.data.length !== expectedLength) {
    throw new QuantError(
      'SHAPE_MISMATCH',
      `shape [${arr.shape.join(', ')}] of ${arr.dtype} needs ${expectedLength} data elements, got ${arr.data.length}`,
    );
  }
  let data = arr.data;
  if (opts.fortranOrder && arr.shape.filter((d) => d > 1).length > 1) data = reorder(data, arr.shape, info.components, false);
  const out = new Uint8Array(header.length + data.byteLength);
  out.set(header, 0);
  const body = out.subarray(header.length);
  body.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (arr.dtype === 'bool') {
    for (let i = 0; i < body.length; i++) body[i] = body[i] === 0 ? 0 : 1;
  }
  if (info.itemSize > 1 && (opts.littleEndian ?? true) !== PLATFORM_LITTLE_ENDIAN) swapBytes(body, info.itemSize / info.components);
  return out;
}

/**
 * Converts a real numeric array to float32: float16 exactly, float64 rounded to nearest even,
 * integers to the nearest float32 (int64 via BigInt, then rounded), bool to 0/1. Complex arrays
 * are UNSUPPORTED (which part would be meant is not ours to guess). float32 input without `out`
 * is returned as is (no copy).
 */
export function toFloat32(arr: NpyArray, out?: Float32Array): Float32Array {
  const info = NPY_DTYPES[arr.dtype];
  if (info.components === 2) {
    throw new QuantError('UNSUPPORTED', `cannot convert ${arr.dtype} data to float32: complex values have no single real value`);
  }
  const n = arr.data.length;
  if (out !== undefined && out.length !== n) {
    throw new QuantError('SHAPE_MISMATCH', `output buffer has ${out.length} elements, the array has ${n}`);
  }
  if (arr.dtype === 'float32' && out === undefined) return arr.data as Float32Array;
  if (arr.dtype === 'float16') return float16BitsToFloat32(arr.data as Uint16Array, out);
  const result = out ?? new Float32Array(n);
  if (arr.data instanceof BigInt64Array || arr.data instanceof BigUint64Array) {
    // Number(bigint) then fround rounds twice, which can land on a false tie (2^60 + 2^36 + 1
    // would become 2^60): round once, from the exact integer.
    for (let i = 0; i < n; i++) result[i] = bigintToFloat32(arr.data[i]);
  } else {
    result.set(arr.data as ArrayLike<number>);
  }
  return result;
}

/** Nearest float32 to an integer of up to 64 bits, ties to even, exactly as numpy's astype. */
export function bigintToFloat32(v: bigint): number {
  const neg = v < 0n;
  let a = neg ? -v : v;
  if (a < 1n << 24n) return neg ? -Number(a) : Number(a);
  const bitLen = a.toString(2).length;
  const drop = BigInt(bitLen - 24);
  const rem = a & ((1n << drop) - 1n);
  a >>= drop;
  const half = 1n << (drop - 1n);
  if (rem > half || (rem === half && (a & 1n) === 1n)) a += 1n;
  const r = Number(a) * 2 ** Number(drop);
  return neg ? -r : r;
}
