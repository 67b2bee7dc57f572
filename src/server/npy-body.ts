import type { NpyArray } from '../formats/npy.js';
import { toFloat32 } from '../formats/npy.js';
import { NdArray } from './nd-array.js';

const INTEGER_DTYPES = new Set(['bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64']);

/** A decoded .npy as the NdArray the routes take: float32 values (integers exact up to 2^24). */
export function npyToNdArray(arr: NpyArray): NdArray {
  return new NdArray(toFloat32(arr), arr.shape, INTEGER_DTYPES.has(arr.dtype));
}
