import { setImmediate as nextTurn } from 'node:timers/promises';
import type { NpyArray } from '../../formats/npy.js';
import { decodeNpy, toFloat32 } from '../../formats/npy.js';
import { NdArray } from './nd-array.js';
import { MAX_RANK } from './nd-array-parser.js';
import { RequestError } from '../errors/request-error.js';

const INTEGER_DTYPES = new Set(['bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64']);

/**
 * A decoded .npy as the NdArray the routes take: float32 values (integers exact up to 2^24).
 * @throws RequestError 422 for a rank above MAX_RANK, the cap JSON bodies have: answers nest one
 *   array per dimension, and thousands of dimensions of size 1 cost nothing to send.
 */
export function npyToNdArray(arr: NpyArray): NdArray {
  checkNpyBody(arr);
  return new NdArray(toFloat32(arr), arr.shape, INTEGER_DTYPES.has(arr.dtype));
}

/**
 * Throws what npyToNdArray throws for an array the routes do not take (a rank above MAX_RANK, a
 * complex dtype), without converting it: for arrays whose conversion runs elsewhere (the worker).
 */
export function checkNpyBody(arr: NpyArray): void {
  if (arr.shape.length > MAX_RANK) {
    throw new RequestError(422, `.npy arrays of rank above ${MAX_RANK} are not accepted, got rank ${arr.shape.length}`);
  }
  // toFloat32 refuses complex data before any pass over it.
  if (arr.dtype === 'complex64' || arr.dtype === 'complex128') toFloat32(arr);
}

/**
 * Elements converted to float32 between turns of the event loop by npyBodyToNdArray: a few
 * milliseconds of work. A 2048x2048 int8 body converted in one go holds GET / that long and more.
 */
export const CONVERT_SLICE_ELEMENTS = 1 << 20;

/**
 * A .npy request body as the NdArray the routes take, as npyToNdArray(decodeNpy(bytes)) gives it,
 * but converted to float32 in slices of CONVERT_SLICE_ELEMENTS with a turn of the event loop
 * between them. float32 bodies need no conversion (a view of the body's bytes).
 */
export async function npyBodyToNdArray(bytes: Uint8Array): Promise<NdArray> {
  const arr = decodeNpy(bytes);
  const n = arr.data.length;
  if (arr.dtype === 'float32' || n <= CONVERT_SLICE_ELEMENTS) return npyToNdArray(arr);
  checkNpyBody(arr);
  const out = new Float32Array(n);
  for (let a = 0; a < n; a += CONVERT_SLICE_ELEMENTS) {
    if (a > 0) await nextTurn();
    const b = Math.min(n, a + CONVERT_SLICE_ELEMENTS);
    toFloat32({ dtype: arr.dtype, shape: [b - a], data: arr.data.subarray(a, b) } as NpyArray, out.subarray(a, b));
  }
  return new NdArray(out, arr.shape, INTEGER_DTYPES.has(arr.dtype));
}
