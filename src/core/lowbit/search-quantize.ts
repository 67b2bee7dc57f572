import { QuantError } from '../errors.js';
import { quantizeOne } from '../kernels/reference.js';
import { FLOAT32_EPS, roundHalfEven } from '../round.js';
import type { LowBitOptions, LowBitResult } from './lowbit-scheme.js';
import { finishLowBit, resolveLowBitScheme } from './lowbit-scheme.js';
import { rtnQuantizeBlocks } from './rtn-quantize-blocks.js';

/** Options of searchQuantize. */
export interface SearchOptions extends LowBitOptions {
  /** Weight of each input channel's squared error (mean x² per channel from calibration, llama.cpp's importance matrix); uniform when absent. */
  readonly importance?: Float32Array;
  /** Candidate grid half-width: 2·steps + 1 candidates per block. Default 10. */
  readonly steps?: number;
}

/**
 * Per-block scale and clipping search minimizing Σ_j importance_j·(w_j − ŵ_j)², the idea of
 * llama.cpp's make_qx_quants / make_qkx2_quants on the quantkit grid. For each block the candidates
 * are its RTN parameters and, for δ = −steps..steps, a scale of the block's range spread over
 * (qmax − qmin) + δ/steps·0.9 steps (symmetric: max|w| over (qmax − qmin)/2 + 0.9·δ/steps, the half range chooseQParams uses), i.e. clipped or
 * widened by up to 0.9 of a step. Each candidate's codes are refitted by weighted least squares
 * (scale and offset, the offset rounded to an integer zero point; symmetric: scale only), the codes
 * re-rounded to the refitted grid (nearest is optimal per element for a fixed grid), and the
 * candidate with the smallest weighted error of its float32 dequantized values wins; RTN is the
 * first candidate and only a strictly smaller error replaces it, so no block is worse than RTN.
 * Example: searchQuantize(w, [rows, cols], { bits: 3, blockSize: 32, importance: meanSquares }).
 */
export function searchQuantize(w: Float32Array, shape: readonly number[], opts: SearchOptions): LowBitResult & { readonly error: Float64Array } {
  const s = resolveLowBitScheme(w, shape, opts);
  const { rows, cols, blockSize, nBlocks, qmin, qmax } = s;
  const steps = opts.steps ?? 10;
  if (!Number.isSafeInteger(steps) || steps < 0) throw new QuantError('INVALID_ARGUMENT', `steps must be an integer ≥ 0, got ${steps}`);
  const imp = opts.importance;
  if (imp) {
    if (imp.length !== cols) throw new QuantError('SHAPE_MISMATCH', `expected ${cols} importances (one per input channel), got ${imp.length}`);
    for (let j = 0; j < cols; j++) if (!(imp[j] >= 0) || !Number.isFinite(imp[j])) throw new QuantError('INVALID_ARGUMENT', `importance ${j} is ${imp[j]}: expected a finite number ≥ 0`);
  }
  const start = rtnQuantizeBlocks(w, shape, { ...opts, dequantize: false });
  const { codes, zeroPoints } = start;
  const scales = Float32Array.from(start.scales);
  const error = new Float64Array(rows * nBlocks);
  const q = new Int32Array(blockSize);
  const weight = new Float64Array(blockSize);
  const unsignedMid = Math.floor((qmin + qmax + 1) / 2);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nBlocks; b++) {
      const pi = r * nBlocks + b;
      const c0 = r * cols + b * blockSize;
      const n = Math.min(blockSize, cols - b * blockSize);
      let min = 0;
      let max = 0;
      for (let j = 0; j < n; j++) {
        weight[j] = imp ? imp[b * blockSize + j] : 1;
        const v = w[c0 + j];
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const errorOf = (scale: number, zp: number) => {
        let e = 0;
        for (let j = 0; j < n; j++) {
          const v = w[c0 + j];
          const d = v - Math.fround((quantizeOne(v, scale, zp, qmin, qmax) - zp) * scale);
          e += weight[j] * d * d;
        }
        return e;
      };
      let bestScale = scales[pi];
      let bestZp = zeroPoints[pi];
      let best = errorOf(bestScale, bestZp);
      const amax = Math.max(-min, max);
      if (amax > 0) {
        for (let k = -steps; k <= steps; k++) {
          const delta = steps === 0 ? 0 : (0.9 * k) / steps;
          let scale: number;
          let zp: number;
          if (s.symmetric) {
            scale = Math.max(Math.fround(amax / ((qmax - qmin) / 2 + delta)), FLOAT32_EPS);
            zp = s.dtype.signed ? 0 : unsignedMid;
          } else {
            scale = Math.max(Math.fround((max - min) / (qmax - qmin + delta)), FLOAT32_EPS);
            zp = clampInt(qmin - roundHalfEven(Math.fround(min / scale)), qmin, qmax);
          }
          for (let j = 0; j < n; j++) q[j] = quantizeOne(w[c0 + j], scale, zp, qmin, qmax);
          // Weighted least squares of w on the codes: w ≈ a·q + c.
          let sw = 0;
          let sq = 0;
          let sv = 0;
          let sqq = 0;
          let sqv = 0;
          for (let j = 0; j < n; j++) {
            const u = weight[j];
            const v = w[c0 + j];
            sw += u;
            sq += u * q[j];
            sv += u * v;
            sqq += u * q[j] * q[j];
            sqv += u * q[j] * v;
          }
          let a = 0;
          let zf = zp;
          if (s.symmetric) {
            const den = sqq - 2 * zp * sq + zp * zp * sw;
            if (den > 0) a = (sqv - zp * sv) / den;
          } else {
            const den = sw * sqq - sq * sq;
            if (den > 0) {
              a = (sw * sqv - sq * sv) / den;
              if (a > 0) {
                zf = clampInt(roundHalfEven(-(sv - a * sq) / sw / a), qmin, qmax);
                // The offset's rounding moved the grid: refit the scale for the integer zero point.
                const den2 = sqq - 2 * zf * sq + zf * zf * sw;
                a = den2 > 0 ? (sqv - zf * sv) / den2 : 0;
              }
            }
          }
          const candidates = a > 0 && Number.isFinite(a) ? [[scale, zp], [Math.max(Math.fround(a), FLOAT32_EPS), zf]] : [[scale, zp]];
          for (const [cs, cz] of candidates) {
            const e = errorOf(cs, cz);
            if (e < best) {
              best = e;
              bestScale = cs;
              bestZp = cz;
            }
          }
        }
      }
      error[pi] = best;
      scales[pi] = bestScale;
      zeroPoints[pi] = bestZp;
      for (let j = 0; j < n; j++) codes[c0 + j] = quantizeOne(w[c0 + j], bestScale, bestZp, qmin, qmax);
    }
  }
  return { ...finishLowBit(s, codes, scales, zeroPoints, opts.dequantize), error };
}

function clampInt(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
