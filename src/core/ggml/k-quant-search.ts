// The scale searches ggml-quants.c shares between block types (make_qx_quants, make_q3_quants,
// make_qkx2_quants / make_qkx3_quants, make_qp_quants), in the C code's float32 operation order.
// Each reads `n` values of `x` from `xo` and writes levels into `L` from `lo`; the level arrays are
// Int8Array or Uint8Array exactly where the C code's are int8_t or uint8_t, so stores wrap alike.
import { nearestInt } from './ggml-float.js';
import { largestMagnitude } from './block-scan.js';

const f = Math.fround;
/** GROUP_MAX_EPS: below this absolute maximum a group counts as all zero. */
export const GROUP_MAX_EPS = f(1e-15);
const TENTH = f(0.1);
const XM = new Float32Array(256);

/**
 * make_qx_quants with rmse_type 1: symmetric levels in [-nmax, nmax-1] (stored +nmax), weights
 * `qw` (or x² without), then 18 nearby inverse scales tried; returns the least-squares scale.
 */
export function makeQxQuants(
  n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number,
  qw: Float32Array | null, qo: number,
): number {
  const max = largestMagnitude(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  let iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    let l = nearestInt(f(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l + nmax;
    const w = qw ? qw[qo + i] : f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 !== 0 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; ++is) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(TENTH * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      let l = nearestInt(f(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      const w = qw ? qw[qo + i] : f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(f(iscale * x[xo + i]));
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** make_q3_quants with do_rmse: x²-weighted levels refined one at a time, up to five passes. */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const max = largestMagnitude(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  const iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    let l = nearestInt(f(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; ++itry) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const w = f(xi * xi);
      const li = L[lo + i];
      let slx = f(sumlx - f(f(w * xi) * li));
      if (slx > 0) {
        let sl2 = f(suml2 - f(f(w * li) * li));
        let newL = nearestInt(f(f(xi * sl2) / slx));
        newL = Math.max(-nmax, Math.min(nmax - 1, newL));
        if (newL !== li) {
          slx = f(slx + f(f(w * xi) * newL));
          sl2 = f(sl2 + f(f(w * newL) * newL));
          if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[lo + i] = newL;
            sumlx = slx;
            suml2 = sl2;
            ++nChanged;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] += nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

/**
 * make_qkx2_quants / make_qkx3_quants (identical for non-null weights and finite input): levels in
 * [0, nmax] with a min, trying nstep+1 inverse scales (rmin + rdelta·is + nmax)/(max − min) and
 * keeping the weighted least-squares fit with the smallest error. Writes the negated min to
 * `minOut[mo]` (the C `the_min`) and returns the scale.
 */
export function makeQkxQuants(
  n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array,
  L: Uint8Array, lo: number, minOut: Float32Array, mo: number, Laux: Uint8Array,
  rmin: number, rdelta: number, nstep: number, useMad: boolean,
): number {
  let min = x[xo];
  let max = x[xo];
  let sumW = weights[0];
  let sumX = f(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i];
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max <= min) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    minOut[mo] = -min;
    return 0;
  }
  // x − min for each value, recomputed only when a better fit moves min.
  const xm = XM;
  for (let i = 0; i < n; i++) xm[i] = f(x[xo + i] - min);
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = nearestInt(f(iscale * xm[i]));
    const q = l < 0 ? 0 : l > nmax ? nmax : l;
    L[lo + i] = q;
    let diff = f(f(f(scale * q) + min) - xi);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestError = f(bestError + f(weights[i] * diff));
  }
  if (nstep < 1) {
    minOut[mo] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; ++is) {
    // min is the best fit so far, not the data's: later trials start from the improved offset.
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const v = f(iscale * xm[i]);
      // nearest_int inline: in range (always, unless x − min overflowed) the float add rounds half to even.
      let l = v <= 4194303 && v >= -4194303 ? f(v + 12582912) - 12582912 : nearestInt(v);
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      Laux[i] = l;
      const wl = f(weights[i] * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[xo + i]));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(f(f(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        diff = useMad ? Math.abs(diff) : f(diff * diff);
        curError = f(curError + f(weights[i] * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i];
        bestError = curError;
        scale = thisScale;
        if (min !== thisMin) {
          min = thisMin;
          for (let i = 0; i < n; i++) xm[i] = f(x[xo + i] - min);
        }
      }
    }
  }
  minOut[mo] = -min;
  return scale;
}

/**
 * make_qp_quants: non-negative levels in [0, nmax] for a group of scales or mins, weighted by
 * `qw`; tries eight nearby inverse scales, then refines levels one at a time for up to five passes.
 */
export function makeQpQuants(n: number, nmax: number, x: Float32Array, L: Uint8Array, qw: Float32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) max = max > x[i] ? max : x[i];
  if (max < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[i] = 0;
    return 0;
  }
  let iscale = f(nmax / max);
  for (let i = 0; i < n; i++) L[i] = nearestInt(f(iscale * x[i]));
  const scale = f(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) {
    const diff = f(x[i] - f(scale * L[i]));
    bestMse = f(bestMse + f(f(qw[i] * diff) * diff));
  }
  for (let is = -4; is <= 4; ++is) {
    if (is === 0) continue;
    const iscaleIs = f(f(f(TENTH * is) + nmax) / max);
    const scaleIs = f(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.min(nmax, nearestInt(f(iscaleIs * x[i])));
      const diff = f(x[i] - f(scaleIs * l));
      mse = f(mse + f(f(qw[i] * diff) * diff));
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.min(nmax, nearestInt(f(iscale * x[i])));
    L[i] = l;
    const w = qw[i];
    sumlx = f(sumlx + f(f(w * x[i]) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; ++itry) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = qw[i];
      const li = L[i];
      let slx = f(sumlx - f(f(w * x[i]) * li));
      let sl2 = f(suml2 - f(f(w * li) * li));
      if (slx > 0 && sl2 > 0) {
        const newL = Math.min(nmax, nearestInt(f(f(x[i] * sl2) / slx)));
        if (newL !== li) {
          slx = f(slx + f(f(w * x[i]) * newL));
          sl2 = f(sl2 + f(f(w * newL) * newL));
          if (f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            ++nChanged;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}
