import type { BlockLayout, Granularity } from '../core/layout.js';
import type { Observer } from '../core/observers/observer.js';
import { createObserver } from '../core/observers/builtin-observers.js';
import type { QuantizerConfig } from './config.js';
import type { FiniteScan } from './finite-scan.js';
import { finiteValues } from './finite-scan.js';

/** How the config says a range is chosen: usePercentile wins over outlierThreshold, else min/max. */
export type RangeMethod =
  | { readonly name: 'minmax' }
  | { readonly name: 'percentile'; readonly minPercentile: number; readonly maxPercentile: number }
  | { readonly name: 'outlier'; readonly outlierThreshold: number };

export function rangeMethodOf(config: QuantizerConfig): RangeMethod {
  if (config.usePercentile) return { name: 'percentile', minPercentile: config.minPercentile, maxPercentile: config.maxPercentile };
  if (config.outlierThreshold !== null) return { name: 'outlier', outlierThreshold: config.outlierThreshold };
  return { name: 'minmax' };
}

/** A fresh observer for the method, per-tensor or per-channel along `axis`. */
export function createRangeObserver(method: RangeMethod, axis: number | undefined): Observer {
  switch (method.name) {
    case 'percentile':
      return createObserver('percentile', { axis, minPercentile: method.minPercentile, maxPercentile: method.maxPercentile });
    case 'outlier':
      return createObserver('outlier', { axis, outlierThreshold: method.outlierThreshold });
    case 'minmax':
      return createObserver('minmax', { axis });
  }
}

export function axisOf(g: Granularity): number | undefined {
  return g.kind === 'per-tensor' ? undefined : g.axis;
}

/**
 * Feeds one batch to an observer, leaving NaN and ±Infinity out (the scan says whether there are
 * any; rejecting them is the caller's job). Returns false when nothing finite was left to observe.
 */
export function observeBatch(observer: Observer, x: Float32Array, shape: readonly number[], scan: FiniteScan): boolean {
  const perTensor = observer.axis === undefined;
  if (!scan.hasNaN && !scan.hasInf) {
    observer.update(x, shape);
    return true;
  }
  const clean = finiteValues(x, perTensor);
  if (clean.length === 0) return false;
  observer.update(clean, perTensor ? [clean.length] : shape);
  return true;
}

/**
 * The range of one tensor by the method: min/max straight from the scan when the data is finite
 * (no second pass), otherwise through an observer over the finite values. Nothing finite gives [0, 0].
 */
export function estimateRange(
  method: RangeMethod,
  x: Float32Array,
  shape: readonly number[],
  layout: BlockLayout,
  granularity: Granularity,
  scan: FiniteScan,
): { min: Float32Array; max: Float32Array } {
  if (method.name === 'minmax' && !scan.hasNaN && !scan.hasInf) return { min: scan.min, max: scan.max };
  const observer = createRangeObserver(method, axisOf(granularity));
  if (!observeBatch(observer, x, shape, scan)) {
    return { min: new Float32Array(layout.paramCount), max: new Float32Array(layout.paramCount) };
  }
  // The scheme only matters to observers that optimise for a bit width; these three do not.
  return observer.range({ dtype: 'int8' });
}
