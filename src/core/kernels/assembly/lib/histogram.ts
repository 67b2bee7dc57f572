// The WebAssembly SIMD binning kernel behind histogramInto (src/core/kernels/wasm.ts) and the
// histogram observers. `x` is a run of float32 values in linear memory (staged by JS, or an array
// that lives there) and `hist` holds four sub-histograms of `bins` u32 counts each (laid out one
// after another); JS zeroes them before a pass and sums them afterwards.
//
// Lane k of every vector counts into sub-histogram k: a run of equal values (common in real data,
// e.g. ReLU zeros) then spreads its increments over four counters, so consecutive
// read-modify-writes rarely hit the same address and stall on store-to-load forwarding.

/**
 * Counts x[0..n) into the sub-histograms: bin = clamp(trunc(f32((x − lo) · scale)), 0, bins − 1),
 * the subtraction and product in float32 and the truncation saturating (Infinity → the last bin),
 * exactly as the TypeScript reference does. Values are assumed finite and >= lo.
 */
export function histogram(x: usize, n: u32, lo: f32, scale: f32, bins: u32, hist: usize): void {
  const vlo = f32x4.splat(lo);
  const vscale = f32x4.splat(scale);
  const vlast = i32x4.splat(<i32>bins - 1);
  const vzero = i32x4.splat(0);
  // Byte offsets of the four sub-histograms, added to each lane's bin offset.
  const stride = <i32>bins << 2;
  const vbase = i32x4(0, stride, 2 * stride, 3 * stride);
  let i: u32 = 0;
  const n8 = n & ~7;
  for (; i < n8; i += 8) {
    const p = x + (<usize>i << 2);
    const a = binOffsets(v128.load(p), vlo, vscale, vzero, vlast, vbase);
    const b = binOffsets(v128.load(p, 16), vlo, vscale, vzero, vlast, vbase);
    bump(hist + <usize>i32x4.extract_lane(a, 0));
    bump(hist + <usize>i32x4.extract_lane(a, 1));
    bump(hist + <usize>i32x4.extract_lane(a, 2));
    bump(hist + <usize>i32x4.extract_lane(a, 3));
    bump(hist + <usize>i32x4.extract_lane(b, 0));
    bump(hist + <usize>i32x4.extract_lane(b, 1));
    bump(hist + <usize>i32x4.extract_lane(b, 2));
    bump(hist + <usize>i32x4.extract_lane(b, 3));
  }
  const last = <i32>bins - 1;
  for (; i < n; i++) {
    const t = (load<f32>(x + (<usize>i << 2)) - lo) * scale;
    // Compared before converting so no conversion can trap: Infinity to the last bin, NaN to bin 0.
    const bin = t >= <f32>bins ? last : t > 0 ? <i32>t : 0;
    bump(hist + (<usize>bin << 2));
  }
}

// @ts-ignore: decorator
@inline function binOffsets(v: v128, vlo: v128, vscale: v128, vzero: v128, vlast: v128, vbase: v128): v128 {
  const t = f32x4.mul(f32x4.sub(v, vlo), vscale);
  const bin = i32x4.min_s(i32x4.max_s(i32x4.trunc_sat_f32x4_s(t), vzero), vlast);
  return i32x4.add(i32x4.shl(bin, 2), vbase);
}

// @ts-ignore: decorator
@inline function bump(p: usize): void {
  store<u32>(p, load<u32>(p) + 1);
}
