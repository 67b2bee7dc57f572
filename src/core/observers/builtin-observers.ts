import { EntropyObserver, type EntropyObserverOptions } from './entropy-observer.js';
import { FixedObserver, type FixedObserverOptions } from './fixed-observer.js';
import { HistogramObserver, type HistogramObserverOptions } from './histogram-observer.js';
import { MinMaxObserver } from './min-max-observer.js';
import { MovingAverageObserver, type MovingAverageObserverOptions } from './moving-average-observer.js';
import type { Observer, ObserverOptions } from './observer.js';
import { OutlierObserver, type OutlierObserverOptions } from './outlier-observer.js';
import { PercentileObserver, type PercentileObserverOptions } from './percentile-observer.js';
import { ObserverRegistry } from './registry.js';

/** Options of each built-in observer kind, by registry name. */
export interface ObserverOptionsByName {
  minmax: ObserverOptions;
  'moving-average': MovingAverageObserverOptions;
  percentile: PercentileObserverOptions;
  histogram: HistogramObserverOptions;
  entropy: EntropyObserverOptions;
  outlier: OutlierObserverOptions;
  fixed: FixedObserverOptions;
}
export type ObserverName = keyof ObserverOptionsByName;

/** The one place the built-in observers are registered. */
export const OBSERVERS: ObserverRegistry = new ObserverRegistry()
  .register('minmax', (o) => new MinMaxObserver(o as ObserverOptions))
  .register('moving-average', (o) => new MovingAverageObserver(o as MovingAverageObserverOptions))
  .register('percentile', (o) => new PercentileObserver(o as PercentileObserverOptions))
  .register('histogram', (o) => new HistogramObserver(o as HistogramObserverOptions))
  .register('entropy', (o) => new EntropyObserver(o as EntropyObserverOptions))
  .register('outlier', (o) => new OutlierObserver(o as OutlierObserverOptions))
  .register('fixed', (o) => new FixedObserver(o as unknown as FixedObserverOptions));

/**
 * A new observer of a registered kind. Example:
 * createObserver('percentile', { maxPercentile: 99.99, axis: 0 }).
 */
export function createObserver<N extends ObserverName>(name: N, options?: ObserverOptionsByName[N]): Observer;
export function createObserver(name: string, options?: Record<string, unknown>): Observer;
export function createObserver(name: string, options: object = {}): Observer {
  return OBSERVERS.create(name, options as Record<string, unknown>);
}
