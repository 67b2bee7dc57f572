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
/**
 * Derived per-parameter arrays for the vector-parameter (varyInner) paths, so their inner loops
 * load instead of recomputing per vector: qmin − zp and qmax − zp (float32) and
 * MAGIC_BITS − zp (int32); see affine.ts. Filled by prepareShifted.
 */
export let paramLoShift: usize = 0;
export let paramHiShift: usize = 0;
export let paramIntShift: usize = 0;
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

/** 1.5 · 2^23 as float32 bits: see affine.ts. */
export const MAGIC_BITS: i32 = 0x4b400000;

/**
 * Fills the derived arrays for `count` staged parameters, placed after the zero points at the
 * same 64-byte-aligned stride the caller used between scales and zero points. Call after setParams.
 */
export function prepareShifted(count: u32): void {
  const stride = paramB - paramA;
  paramLoShift = paramB + stride;
  paramHiShift = paramLoShift + stride;
  paramIntShift = paramHiShift + stride;
  for (let k: u32 = 0; k < count; k++) {
    const off = <usize>k << 2;
    const zp = load<i32>(paramB + off);
    store<f32>(paramLoShift + off, qmin - <f32>zp);
    store<f32>(paramHiShift + off, qmax - <f32>zp);
    store<i32>(paramIntShift + off, MAGIC_BITS - zp);
  }
}
