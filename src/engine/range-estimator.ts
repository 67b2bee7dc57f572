import type { BlockLayout, Granularity } from '../core/layout.js';
import type { Observer, ObserverScheme } from '../core/observers/observer.js';
import type { ObserverName } from '../core/observers/observer-catalog.js';
import { createObserver } from '../core/observers/builtin-observers.js';
import type { QuantizerConfig } from './config.js';
import type { FiniteScan } from './finite-scan.js';
import { finiteValues } from './finite-scan.js';

/** A registered observer and its options (without axis): how a range is chosen. */
export interface RangeMethod {
  readonly name: ObserverName;
  readonly options?: Readonly<Record<string, unknown>>;
}

const MINMAX: RangeMethod = Object.freeze({ name: 'minmax', options: Object.freeze({}) });

/**
 * How the config says a range is chosen: `observer` when given; else usePercentile (over
 * outlierThreshold), else the outlier observer when outlierThreshold is set, else min/max.
 */
export function rangeMethodOf(config: QuantizerConfig): RangeMethod {
  if (config.observer) return { name: config.observer.name, options: config.observer.options };
  if (config.usePercentile) return { name: 'percentile', options: { minPercentile: config.minPercentile, maxPercentile: config.maxPercentile } };
  if (config.outlierThreshold !== null) return { name: 'outlier', options: { outlierThreshold: config.outlierThreshold } };
  return MINMAX;
}

/** A fresh observer for the method, per-tensor or per-channel along `axis`. */
export function createRangeObserver(method: RangeMethod, axis: number | undefined): Observer {
  return createObserver(method.name, { ...method.options, axis });
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
 * (no second pass), otherwise through an observer over the finite values; `scheme` is the code
 * dtype the observers that optimise for a bit width aim at. Nothing finite gives [0, 0].
 */
export function estimateRange(
  method: RangeMethod,
  x: Float32Array,
  shape: readonly number[],
  layout: BlockLayout,
  granularity: Granularity,
  scan: FiniteScan,
  scheme: ObserverScheme = { dtype: 'int8' },
): { min: Float32Array; max: Float32Array } {
  if (method.name === 'minmax' && !scan.hasNaN && !scan.hasInf) return { min: scan.min, max: scan.max };
  const observer = createRangeObserver(method, axisOf(granularity));
  if (!observeBatch(observer, x, shape, scan)) {
    return { min: new Float32Array(layout.paramCount), max: new Float32Array(layout.paramCount) };
  }
  // The scheme only matters to observers that optimise for a bit width (mse, entropy).
  return observer.range(scheme);
}
