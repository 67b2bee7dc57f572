import type { NpyArray } from '../formats/npy.js';
import { toFloat32 } from '../formats/npy.js';
import { NdArray } from './nd-array.js';
import { MAX_RANK } from './nd-array-parser.js';
import { RequestError } from './request-error.js';

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
