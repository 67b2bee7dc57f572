// make_qkx2_quants / make_qkx3_quants of llama.cpp's ggml-quants.c for src/core/ggml: the scale and
// min search that is the whole cost of Q2_K, Q4_K, Q5_K (and Q4_1/Q5_1 with an importance matrix).
// WebAssembly's f32 operations are IEEE single precision like the C code's floats, and every
// expression keeps the C evaluation order, so the results are bit-identical to both ggml and the
// TypeScript reference (src/core/ggml/k-quant-search.ts). JS stages one group at heapBase():
// x f32[256], weights f32[256], L u8[256], Laux u8[256], then the min (f32) this writes.

/** First free byte of linear memory (64-byte aligned): the staging area starts here. */
export function heapBase(): usize {
  return (__heap_base + 63) & ~63;
}

// @ts-ignore: decorator
@inline function nearestInt(v: f32): i32 {
  return (reinterpret<i32>(v + <f32>12582912.0) & 0x007fffff) - 0x00400000;
}

// @ts-ignore: decorator
@inline function clampLevel(l: i32, nmax: i32): i32 {
  return l < 0 ? 0 : l > nmax ? nmax : l;
}

export function makeQkxQuants(n: i32, nmax: i32, rmin: f32, rdelta: f32, nstep: i32, useMad: bool): f32 {
  const X = heapBase();
  const W = X + 1024;
  const LO = X + 2048;
  const LA = X + 2304;
  const MIN = X + 2560;
  let min = load<f32>(X);
  let max = min;
  let sumW = load<f32>(W);
  let sumX: f32 = sumW * min;
  for (let i = 1; i < n; i++) {
    const xi = load<f32>(X + (<usize>i << 2));
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = load<f32>(W + (<usize>i << 2));
    sumW += w;
    sumX += w * xi;
  }
  if (min > 0) min = 0;
  if (max <= min) {
    memory.fill(LO, 0, <usize>n);
    store<f32>(MIN, -min);
    return 0;
  }
  const fmax = <f32>nmax;
  let iscale: f32 = fmax / (max - min);
  let scale: f32 = <f32>1.0 / iscale;
  let bestError: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(X + (<usize>i << 2));
    const q = clampLevel(nearestInt(iscale * (xi - min)), nmax);
    store<u8>(LO + <usize>i, <u8>q);
    let diff: f32 = scale * <f32>q + min - xi;
    diff = useMad ? Mathf.abs(diff) : diff * diff;
    bestError += load<f32>(W + (<usize>i << 2)) * diff;
  }
  if (nstep < 1) {
    store<f32>(MIN, -min);
    return scale;
  }
  for (let is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * <f32>is + fmax) / (max - min);
    let sumL: f32 = 0;
    let sumL2: f32 = 0;
    let sumXL: f32 = 0;
    for (let i = 0; i < n; i++) {
      const xi = load<f32>(X + (<usize>i << 2));
      const l = clampLevel(nearestInt(iscale * (xi - min)), nmax);
      store<u8>(LA + <usize>i, <u8>l);
      const fl = <f32>l;
      const wl: f32 = load<f32>(W + (<usize>i << 2)) * fl;
      sumL += wl;
      sumL2 += wl * fl;
      sumXL += wl * xi;
    }
    const D: f32 = sumW * sumL2 - sumL * sumL;
    if (D > 0) {
      let thisScale: f32 = (sumW * sumXL - sumX * sumL) / D;
      let thisMin: f32 = (sumL2 * sumX - sumL * sumXL) / D;
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = sumXL / sumL2;
      }
      let curError: f32 = 0;
      for (let i = 0; i < n; i++) {
        let diff: f32 = thisScale * <f32>load<u8>(LA + <usize>i) + thisMin - load<f32>(X + (<usize>i << 2));
        diff = useMad ? Mathf.abs(diff) : diff * diff;
        curError += load<f32>(W + (<usize>i << 2)) * diff;
      }
      if (curError < bestError) {
        memory.copy(LO, LA, <usize>n);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  store<f32>(MIN, -min);
  return scale;
}

/**
 * make_qx_quants with rmse_type 1 (Q3_K, Q6_K, and Q4_0/Q5_0 with an importance matrix): symmetric
 * levels, stored +nmax as int8 at L; weights from W when `weighted`, else x².
 */
export function makeQxQuants(n: i32, nmax: i32, weighted: bool): f32 {
  const X = heapBase();
  const W = X + 1024;
  const LO = X + 2048;
  let max: f32 = 0;
  let amax: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(X + (<usize>i << 2));
    const ax = Mathf.abs(xi);
    if (ax > amax) {
      amax = ax;
      max = xi;
    }
  }
  if (amax < <f32>1e-15) {
    memory.fill(LO, 0, <usize>n);
    return 0;
  }
  let iscale: f32 = <f32>(-nmax) / max;
  let sumlx: f32 = 0;
  let suml2: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(X + (<usize>i << 2));
    let l = nearestInt(iscale * xi);
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    store<i8>(LO + <usize>i, <i8>(l + nmax));
    const w: f32 = weighted ? load<f32>(W + (<usize>i << 2)) : xi * xi;
    const fl = <f32>l;
    sumlx += w * xi * fl;
    suml2 += w * fl * fl;
  }
  // suml2 != 0 as in C: true for NaN.
  let scale: f32 = suml2 != 0 ? sumlx / suml2 : 0;
  let best: f32 = scale * sumlx;
  for (let is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(<f32>nmax + <f32>0.1 * <f32>is) / max;
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = load<f32>(X + (<usize>i << 2));
      let l = nearestInt(iscale * xi);
      l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
      const w: f32 = weighted ? load<f32>(W + (<usize>i << 2)) : xi * xi;
      const fl = <f32>l;
      sumlx += w * xi * fl;
      suml2 += w * fl * fl;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (let i = 0; i < n; i++) {
        let l = nearestInt(iscale * load<f32>(X + (<usize>i << 2)));
        l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
        store<i8>(LO + <usize>i, <i8>(l + nmax));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}
