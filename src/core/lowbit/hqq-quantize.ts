import { QuantError } from '../errors.js';
import { quantizeOne } from '../kernels/reference.js';
import { FLOAT32_EPS, roundHalfEven } from '../round.js';
import type { LowBitOptions, LowBitResult } from './lowbit-scheme.js';
import { dequantizeLowBit, finishLowBit, resolveLowBitScheme } from './lowbit-scheme.js';
import { rtnQuantizeBlocks } from './rtn-quantize-blocks.js';

/** Options of hqqQuantize. */
export interface HqqOptions extends LowBitOptions {
  /** Most proximal iterations per block. Default 20. */
  readonly iters?: number;
  /** p of the sparsity-promoting ‖w − ŵ‖_p^p objective (0 < p ≤ 1). Default 0.7. */
  readonly lpNorm?: number;
  /** Initial penalty β of the half-quadratic split. Default 10. */
  readonly beta?: number;
  /** β grows by this factor every iteration. Default 1.01. */
  readonly kappa?: number;
  /** Also refit the scale each iteration (least squares on the shrunk target). Default false: zero point only, as HQQ's legacy optimizer. */
  readonly optimizeScale?: boolean;
  /**
   * 'integer' (default): zero points rounded every step, storable by DequantizeLinear and packed
   * MatMulNBits zero points. 'float': HQQ's own real-valued zero points (MatMulNBits takes them as
   * float zero points of the scales' type), returned in zeroPointsFloat; codes are then
   * clamp(round(w / scale + zeroPoint)) against them.
   */
  readonly zeroPoint?: 'integer' | 'float';
}

/** What hqqQuantize returns beyond the common result. */
export interface HqqResult extends LowBitResult {
  /** Σ|w − ŵ|^p of each block's chosen iterate, [rows, nBlocks]. */
  readonly objective: Float64Array;
  /**
   * With zeroPoint 'float': the real-valued zero points [rows, nBlocks] (float32) the codes and
   * `dequantized` are relative to; zeroPoints and params then hold them rounded, which the codes
   * are NOT relative to (a format without float zero points needs zeroPoint 'integer').
   */
  readonly zeroPointsFloat?: Float32Array;
}

/**
 * HQQ (Badri & Shaji 2023, "Half-Quadratic Quantization of Large Machine Learning Models"), the
 * proximal solver of mobiusml/hqq's optimize_weights_proximal_legacy, per block and calibration
 * free. It minimizes ‖w − ŵ‖_p^p (p < 1 lets a few outliers keep large errors so the rest fit) by
 * splitting w − ŵ = e and alternating
 *
 *   e ← shrink_p(w − ŵ, β) = sign(x)·max(|x| − |x|^(p−1)/β, 0),
 *   zeroPoint ← mean(q − (w − e)/scale),   β ← κβ,
 *
 * with q = quantizeOne(w, scale, zeroPoint) and ŵ = (q − zeroPoint)·scale on the quantkit grid.
 * Where this differs from the reference, and why: by default the zero point is rounded to an
 * integer in every step (DequantizeLinear and MatMulNBits' packed zero points are integers; HQQ's
 * are floats, kept with zeroPoint 'float'). An integer zero point rarely moves (the step's mean
 * is already within half a code of it): with integers, optimizeScale is what changes the grid;
 * each block stops on its own when its objective Σ|w − ŵ|^p stops falling (the reference stops the
 * whole tensor on the mean |w − ŵ|) and keeps its best iterate (the reference returns the one after
 * the first worse step), so a block is never worse than its start, which is rtnQuantizeBlocks.
 * optimizeScale also refits (scale, zeroPoint) by least squares of w − e on q. Symmetric schemes
 * keep their zero point; only optimizeScale changes them.
 * Example: hqqQuantize(w, [rows, cols], { bits: 4, blockSize: 64 }).
 */
export function hqqQuantize(w: Float32Array, shape: readonly number[], opts: HqqOptions): HqqResult {
  const s = resolveLowBitScheme(w, shape, opts);
  const iters = opts.iters ?? 20;
  const p = opts.lpNorm ?? 0.7;
  const beta0 = opts.beta ?? 10;
  const kappa = opts.kappa ?? 1.01;
  if (!Number.isSafeInteger(iters) || iters < 0) throw new QuantError('INVALID_ARGUMENT', `iters must be an integer ≥ 0, got ${iters}`);
  if (!(p > 0 && p <= 1)) throw new QuantError('INVALID_ARGUMENT', `lpNorm must be in (0, 1], got ${p}`);
  if (!(beta0 > 0) || !Number.isFinite(beta0)) throw new QuantError('INVALID_ARGUMENT', `beta must be a finite number > 0, got ${beta0}`);
  if (!(kappa > 0) || !Number.isFinite(kappa)) throw new QuantError('INVALID_ARGUMENT', `kappa must be a finite number > 0, got ${kappa}`);
  const floatZero = opts.zeroPoint === 'float';
  if (opts.zeroPoint !== undefined && opts.zeroPoint !== 'integer' && !floatZero) throw new QuantError('INVALID_ARGUMENT', `zeroPoint must be 'integer' or 'float', got '${String(opts.zeroPoint)}'`);
  const start = rtnQuantizeBlocks(w, shape, { ...opts, dequantize: false });
  const { codes, zeroPoints } = start;
  const scales = Float32Array.from(start.scales);
  const { rows, cols, blockSize, nBlocks, qmin, qmax } = s;
  const objective = new Float64Array(rows * nBlocks);
  const zeroFloat = new Float32Array(rows * nBlocks);
  // HQQ's own quantizer, round(w / scale + zero): with an integer zero it is quantizeOne but for the parity of ties.
  const quant = floatZero
    ? (v: number, scale: number, z: number) => {
        const q = roundHalfEven(Math.fround(v / scale) + z);
        return q < qmin ? qmin : q > qmax ? qmax : q;
      }
    : (v: number, scale: number, z: number) => quantizeOne(v, scale, z, qmin, qmax);
  const target = new Float64Array(blockSize);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nBlocks; b++) {
      const pi = r * nBlocks + b;
      const c0 = r * cols + b * blockSize;
      const n = Math.min(blockSize, cols - b * blockSize);
      let scale = scales[pi];
      let zp = zeroPoints[pi];
      let best = Infinity;
      let bestScale = scale;
      let bestZp = zp;
      let beta = beta0;
      for (let it = 0; it <= iters; it++) {
        let err = 0;
        for (let j = 0; j < n; j++) {
          const v = w[c0 + j];
          const x = v - Math.fround((quant(v, scale, zp) - zp) * scale);
          err += Math.abs(x) ** p;
          const ax = Math.abs(x);
          const t = ax - (p === 1 ? 1 : (ax + 1e-8) ** (p - 1)) / beta;
          // target = w − e: the part of w the grid is asked to fit.
          target[j] = t > 0 ? v - Math.sign(x) * t : v;
        }
        if (err < best) {
          best = err;
          bestScale = scale;
          bestZp = zp;
        } else break;
        if (it === iters) break;
        beta *= kappa;
        let sumQ = 0;
        let sumT = 0;
        let sumQQ = 0;
        let sumQT = 0;
        for (let j = 0; j < n; j++) {
          const q = quant(w[c0 + j], scale, zp);
          sumQ += q;
          sumT += target[j];
          sumQQ += q * q;
          sumQT += q * target[j];
        }
        if (opts.optimizeScale) {
          // target ≈ a·q + b with a = scale, b = −scale·zeroPoint (zero point held when symmetric).
          let a: number;
          let zf = zp;
          if (s.symmetric) {
            const den = sumQQ - 2 * zp * sumQ + n * zp * zp;
            a = den > 0 ? (sumQT - zp * sumT) / den : 0;
          } else {
            const den = n * sumQQ - sumQ * sumQ;
            a = den > 0 ? (n * sumQT - sumQ * sumT) / den : 0;
            if (a > 0) zf = -(sumT - a * sumQ) / n / a;
          }
          if (a > 0 && Number.isFinite(a)) {
            scale = Math.max(Math.fround(a), FLOAT32_EPS);
            if (!s.symmetric) zp = floatZero ? Math.fround(zf) : clampInt(roundHalfEven(zf), qmin, qmax);
          }
        } else if (!s.symmetric) {
          const zf = (sumQ - sumT / scale) / n;
          zp = floatZero ? Math.fround(zf) : clampInt(roundHalfEven(zf), qmin, qmax);
        }
      }
      objective[pi] = best;
      scales[pi] = bestScale;
      zeroFloat[pi] = bestZp;
      zeroPoints[pi] = clampInt(roundHalfEven(bestZp), qmin, qmax);
      for (let j = 0; j < n; j++) codes[c0 + j] = quant(w[c0 + j], bestScale, bestZp);
    }
  }
  if (!floatZero) return { ...finishLowBit(s, codes, scales, zeroPoints, opts.dequantize), objective };
  const result = finishLowBit(s, codes, scales, zeroPoints, false);
  return { ...result, objective, zeroPointsFloat: zeroFloat, ...(opts.dequantize ? { dequantized: dequantizeLowBit(s, codes, scales, zeroFloat) } : {}) };
}

function clampInt(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
