import type { LayerPrecision } from './sensitivity-layers.js';
import type { LayerSensitivity } from './sensitivity.js';

/** One step of the greedy: lowering one layer's precision. */
export interface PrecisionMove {
  readonly node: string;
  readonly from: LayerPrecision;
  readonly to: Exclude<LayerPrecision, 'float'>;
  /** Squared error this step adds to the model (isolated errors², differences along the layer's hull). */
  readonly addedSquaredError: number;
  readonly savedBytes: number;
  /** addedSquaredError / savedBytes: the greedy takes the smallest first. */
  readonly cost: number;
}

interface Point {
  readonly precision: LayerPrecision;
  readonly saved: number;
  readonly squaredError: number;
}

/**
 * The moves of one layer: the lower convex hull of its (bytes saved, squared error) points from
 * float (0, 0) through int8 and int4. A point above the hull (int8 when int4 costs less error per
 * byte than int8 does) is skipped, so the layer's moves come with increasing cost and taking them
 * cheapest first across layers never takes a later move of a layer before an earlier one.
 * Points that save nothing or err without bound are dropped. A point's error is its excess over
 * `baseline` (the float model's own error by the metric), never below 0.
 */
function layerMoves(layer: LayerSensitivity, baseline: number): PrecisionMove[] {
  const points: Point[] = [{ precision: 'float', saved: 0, squaredError: 0 }];
  for (const p of ['int8', 'int4'] as const) {
    const r = layer.results[p];
    if (r?.status !== 'measured' || !Number.isFinite(r.error)) continue;
    const saved = r.weightBytesBefore - r.weightBytesAfter;
    if (saved <= 0) continue;
    const excess = Math.max(0, r.error - baseline);
    points.push({ precision: p, saved, squaredError: excess * excess });
  }
  points.sort((a, b) => a.saved - b.saved || a.squaredError - b.squaredError);
  const hull: Point[] = [];
  for (const p of points) {
    // Of points saving the same bytes only the least erring (first after the sort) counts.
    if (hull.length && p.saved === hull[hull.length - 1]!.saved) continue;
    while (hull.length >= 2) {
      const a = hull[hull.length - 2]!;
      const b = hull[hull.length - 1]!;
      // b is on or above the segment a→p: reaching p straight from a costs no more per byte.
      if ((b.squaredError - a.squaredError) * (p.saved - a.saved) >= (p.squaredError - a.squaredError) * (b.saved - a.saved)) hull.pop();
      else break;
    }
    hull.push(p);
  }
  const moves: PrecisionMove[] = [];
  for (let i = 1; i < hull.length; i++) {
    const a = hull[i - 1]!;
    const b = hull[i]!;
    const addedSquaredError = Math.max(0, b.squaredError - a.squaredError);
    const savedBytes = b.saved - a.saved;
    moves.push({ node: layer.node, from: a.precision, to: b.precision as PrecisionMove['to'], addedSquaredError, savedBytes, cost: addedSquaredError / savedBytes });
  }
  return moves;
}

/**
 * Every layer's moves in greedy order: smallest squared error added per byte saved first (ties:
 * more bytes saved first, then node order). Taking the first k moves gives a model whose predicted
 * error, if independent layer errors add in power, is baseline + √(Σ addedSquaredError).
 */
export function planPrecisionMoves(layers: readonly LayerSensitivity[], baseline = 0): PrecisionMove[] {
  const all = layers.flatMap((l, i) => layerMoves(l, baseline).map((m, j) => ({ m, i, j })));
  all.sort((x, y) => x.m.cost - y.m.cost || y.m.savedBytes - x.m.savedBytes || x.i - y.i || x.j - y.j);
  return all.map((x) => x.m);
}

/** The precision of each layer after the first `k` moves (layers without a move stay float). */
export function precisionsAfter(moves: readonly PrecisionMove[], k: number): Map<string, Exclude<LayerPrecision, 'float'>> {
  const out = new Map<string, Exclude<LayerPrecision, 'float'>>();
  for (const m of moves.slice(0, k)) out.set(m.node, m.to);
  return out;
}

/** The largest k whose predicted error baseline + √(Σ_{i<k} addedSquaredError) is at most maxError. */
export function predictedSteps(moves: readonly PrecisionMove[], maxError: number, baseline = 0): number {
  let sum = 0;
  let k = 0;
  for (const m of moves) {
    if (baseline + Math.sqrt(sum + m.addedSquaredError) > maxError) break;
    sum += m.addedSquaredError;
    k++;
  }
  return k;
}
