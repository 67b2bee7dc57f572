/**
 * A dense array parsed from a request: numbers in C (row-major) order with their shape. JSON
 * numbers are float64, so `data` keeps them exactly; the engine rounds to float32 as numpy's
 * `np.asarray(x, dtype=np.float32)` would.
 */
export class NdArray {
  constructor(
    readonly data: Float64Array | Float32Array,
    readonly shape: number[],
    /** True when every element is an integer (as a dequantize request needs). */
    readonly integral: boolean,
  ) {}

  get size(): number {
    return this.data.length;
  }

  toFloat32(): Float32Array {
    return this.data instanceof Float32Array ? this.data : Float32Array.from(this.data);
  }
}

/** Product of the dimensions; 1 for a scalar's empty shape. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
