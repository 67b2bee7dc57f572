import { QuantError } from '../errors.js';
import { Registry } from '../registry.js';
import { EntropyObserver, type EntropyObserverOptions } from './entropy-observer.js';
import { FixedObserver, type FixedObserverOptions } from './fixed-observer.js';
import { HistogramObserver, type HistogramObserverOptions } from './histogram-observer.js';
import { MinMaxObserver } from './min-max-observer.js';
import { MovingAverageObserver, type MovingAverageObserverOptions } from './moving-average-observer.js';
import type { Observer, ObserverOptions } from './observer.js';
import { OutlierObserver, type OutlierObserverOptions } from './outlier-observer.js';
import { PercentileObserver, type PercentileObserverOptions } from './percentile-observer.js';

/** Options of each built-in observer kind, by registry name. */
export interface ObserverOptionsByName {
  minmax: ObserverOptions;
  'moving-average': MovingAverageObserverOptions;
  percentile: PercentileObserverOptions;
  /** PyTorch's HistogramObserver: the range that minimises the quantization MSE over a histogram. */
  mse: HistogramObserverOptions;
  entropy: EntropyObserverOptions;
  outlier: OutlierObserverOptions;
  fixed: FixedObserverOptions;
}
export type ObserverName = keyof ObserverOptionsByName;

/** Builds an observer from plain-data options (validated by the observer's constructor). */
export type ObserverFactory = (options: Record<string, unknown>) => Observer;

/** One registered observer kind. */
export interface ObserverEntry {
  readonly create: ObserverFactory;
  /**
   * Options without a default, when there are some ('min and max' for fixed): such an observer is
   * offered only where options can be given (the library, the Quantizer config), not by the CLI's
   * --observer or ONNX calibration, which pass a name alone.
   */
  readonly requires?: string;
}

/**
 * The one place the built-in observers are registered: adding one is an entry here (and in
 * ObserverOptionsByName); the CLI, ONNX calibration, the Quantizer config and the parameter files
 * derive their lists from it. 'histogram', the name 'mse' had before, is still accepted.
 */
export const OBSERVERS: Registry<ObserverName, ObserverEntry> = new Registry<ObserverName, ObserverEntry>('observer', 'INVALID_ARGUMENT')
  .register('minmax', { create: (o) => new MinMaxObserver(o as ObserverOptions) })
  .register('moving-average', { create: (o) => new MovingAverageObserver(o as MovingAverageObserverOptions) })
  .register('percentile', { create: (o) => new PercentileObserver(o as PercentileObserverOptions) })
  .register('mse', { create: (o) => new HistogramObserver(o as HistogramObserverOptions) })
  .register('entropy', { create: (o) => new EntropyObserver(o as EntropyObserverOptions) })
  .register('outlier', { create: (o) => new OutlierObserver(o as OutlierObserverOptions) })
  .register('fixed', { create: (o) => new FixedObserver(o as unknown as FixedObserverOptions), requires: 'min and max' })
  .alias('histogram', 'mse');

/** Every registered observer name, in registration order. */
export const OBSERVER_NAMES: readonly ObserverName[] = Object.freeze(OBSERVERS.keys());

/** The observers that choose a range from the data and a name alone (every option has a default). */
export const DATA_OBSERVER_NAMES: readonly ObserverName[] = Object.freeze(OBSERVER_NAMES.filter((n) => OBSERVERS.get(n).requires === undefined));

/** The registered name `name` stands for ('histogram' -> 'mse'); an unknown name is INVALID_ARGUMENT listing the known ones. */
export function observerName(name: string): ObserverName {
  return OBSERVERS.resolve(name);
}

/**
 * A new observer of a registered kind. Example:
 * createObserver('percentile', { maxPercentile: 99.99, axis: 0 }).
 */
export function createObserver<N extends ObserverName>(name: N, options?: ObserverOptionsByName[N]): Observer;
export function createObserver(name: string, options?: Record<string, unknown>): Observer;
export function createObserver(name: string, options: object = {}): Observer {
  const entry = OBSERVERS.get(name);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new QuantError('INVALID_ARGUMENT', `observer options must be an object, got ${JSON.stringify(options)}`);
  }
  return entry.create(options as Record<string, unknown>);
}
