// What one kernel call shares across its chunks, set from JS once per call: the BlockLayout
// (see src/core/layout.ts) and where the parameters were staged in linear memory.

/** Elements per row. */
export let inner: u32 = 1;
/** Rows per outer index. */
export let axisLen: u32 = 1;
/** Rows sharing one parameter (clamped to axisLen by the caller so (b + 1) * blockSize cannot overflow). */
export let blockSize: u32 = 1;
export let paramOuterStride: u32 = 0;
/** Within a row the parameter runs along with the element (vector loads) instead of being constant. */
export let varyInner: bool = false;
/** Index of the first staged parameter: parameter p lives at slot p - paramLo. */
export let paramLo: u32 = 0;

/** Staged float32 parameters: scales, or the running minima for minMax. */
export let paramA: usize = 0;
/** Staged parameters: int32 zero points, or the running maxima (float32) for minMax. */
export let paramB: usize = 0;
export let qmin: f32 = 0;
export let qmax: f32 = 0;

export function setLayout(inner_: u32, axisLen_: u32, blockSize_: u32, paramOuterStride_: u32, varyInner_: bool, paramLo_: u32): void {
  inner = inner_;
  axisLen = axisLen_;
  blockSize = blockSize_;
  paramOuterStride = paramOuterStride_;
  varyInner = varyInner_;
  paramLo = paramLo_;
}

export function setParams(paramA_: usize, paramB_: usize, qmin_: f32, qmax_: f32): void {
  paramA = paramA_;
  paramB = paramB_;
  qmin = qmin_;
  qmax = qmax_;
}

/** Whether the `count` int32 zero points at `ptr` all lie in [−limit, limit]. */
export function zeroPointsWithin(ptr: usize, count: u32, limit: i32): bool {
  let lo = i32x4.splat(0);
  let hi = i32x4.splat(0);
  let k: u32 = 0;
  for (; k + 4 <= count; k += 4) {
    const z = v128.load(ptr + (<usize>k << 2));
    lo = i32x4.min_s(lo, z);
    hi = i32x4.max_s(hi, z);
  }
  let mn = min(min(i32x4.extract_lane(lo, 0), i32x4.extract_lane(lo, 1)), min(i32x4.extract_lane(lo, 2), i32x4.extract_lane(lo, 3)));
  let mx = max(max(i32x4.extract_lane(hi, 0), i32x4.extract_lane(hi, 1)), max(i32x4.extract_lane(hi, 2), i32x4.extract_lane(hi, 3)));
  for (; k < count; k++) {
    const z = load<i32>(ptr + (<usize>k << 2));
    mn = min(mn, z);
    mx = max(mx, z);
  }
  return mn >= -limit && mx <= limit;
}

/**
 * 1.5 · 2^23 (float32 bits 0x4b400000), the rounding constant of affine.ts. A mutable global,
 * exported from the module, so that neither Binaryen nor V8 treats it as a constant: a v128.const
 * in a loop is rebuilt on every iteration, a splat of this taken before the loop stays in a register.
 */
export let magic: f32 = 12582912.0;
