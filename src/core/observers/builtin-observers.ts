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

import type { ObserverName } from './observer-catalog.js';
import { OBSERVER_ALIASES, OBSERVER_NAMES, observerRequires } from './observer-catalog.js';

export type { ObserverName } from './observer-catalog.js';
export { DATA_OBSERVER_NAMES, OBSERVER_NAMES } from './observer-catalog.js';

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

/** Builds an observer from plain-data options (validated by the observer's constructor). */
export type ObserverFactory = (options: Record<string, unknown>) => Observer;

/** One registered observer kind. */
export interface ObserverEntry {
  readonly create: ObserverFactory;
  /** Options without a default, when there are some (OBSERVER_CATALOG). */
  readonly requires?: string;
}

/** One factory per catalog name: a name without one, or one without a name, does not compile. */
const FACTORIES: { readonly [N in ObserverName]: ObserverFactory } & { readonly [N in keyof ObserverOptionsByName]: ObserverFactory } = {
  minmax: (o) => new MinMaxObserver(o as ObserverOptions),
  'moving-average': (o) => new MovingAverageObserver(o as MovingAverageObserverOptions),
  percentile: (o) => new PercentileObserver(o as PercentileObserverOptions),
  mse: (o) => new HistogramObserver(o as HistogramObserverOptions),
  entropy: (o) => new EntropyObserver(o as EntropyObserverOptions),
  outlier: (o) => new OutlierObserver(o as OutlierObserverOptions),
  fixed: (o) => new FixedObserver(o as unknown as FixedObserverOptions),
};

/**
 * The one place the built-in observers are registered, from the catalog (observer-catalog.ts):
 * adding one is a catalog entry, its options here and its factory; the CLI, ONNX calibration, the
 * Quantizer config and the parameter files derive their lists from the catalog.
 */
export const OBSERVERS: Registry<ObserverName, ObserverEntry> = (() => {
  const registry = new Registry<ObserverName, ObserverEntry>('observer', 'INVALID_ARGUMENT');
  for (const name of OBSERVER_NAMES) {
    const requires = observerRequires(name);
    registry.register(name, requires === undefined ? { create: FACTORIES[name] } : { create: FACTORIES[name], requires });
  }
  for (const [alias, name] of Object.entries(OBSERVER_ALIASES)) registry.alias(alias, name);
  return registry;
})();

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
