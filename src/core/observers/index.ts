// The observers: range estimators usable alone or by the Quantizer.
export type * from './observer.js';
export { BaseObserver } from './base-observer.js';
export { MinMaxObserver } from './min-max-observer.js';
export { MovingAverageObserver, type MovingAverageObserverOptions } from './moving-average-observer.js';
export { PercentileObserver, type PercentileObserverOptions } from './percentile-observer.js';
export { HistogramObserver, type HistogramObserverOptions } from './histogram-observer.js';
export { EntropyObserver, type EntropyObserverOptions } from './entropy-observer.js';
export { OutlierObserver, type OutlierObserverOptions } from './outlier-observer.js';
export { FixedObserver, type FixedObserverOptions } from './fixed-observer.js';
export {
  OBSERVERS,
  OBSERVER_NAMES,
  DATA_OBSERVER_NAMES,
  createObserver,
  observerName,
  type ObserverEntry,
  type ObserverFactory,
  type ObserverName,
  type ObserverOptionsByName,
} from './builtin-observers.js';
export { histogramQuantile } from './histogram/histogram-quantile.js';
export { mseRangeSearch, quantizationError } from './mse-range-search.js';
export { entropyThreshold, entropyThresholdDirect } from './histogram/entropy-threshold.js';
export { rebinHistogram } from './histogram/rebin-histogram.js';
export { referenceHistogramKernel, type HistogramKernel } from './histogram/histogram-kernel.js';
export { getHistogramKernel, setHistogramKernel } from './histogram/get-histogram-kernel.js';
export { histogramWasmAvailable, wasmHistogramKernel } from './histogram/histogram-wasm.js';
export { ChannelHistograms, type HistogramSnapshot } from './channel-histograms.js';
