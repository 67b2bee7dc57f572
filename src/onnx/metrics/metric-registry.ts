import { createCustomEvaluator } from './custom-metric.js';
import { createCtcEvaluator } from './ctc-error.js';
import { createKlEvaluator } from './kl-divergence.js';
import { createAccuracyEvaluator } from './label-accuracy.js';
import type { MetricEvaluator, MetricTarget } from './metric.js';
import type { MetricKind, MetricSpec } from './metric-options.js';
import { createRelativeRmsEvaluator } from './relative-rms.js';
import { checkRequestedOutputs } from './scored-outputs.js';

type Factory<K extends MetricKind> = (spec: Extract<MetricSpec, { kind: K }>, target: MetricTarget) => MetricEvaluator;

/** Every metric kind and what evaluates it; the type makes a kind without an entry a compile error. */
export const METRICS: { readonly [K in MetricKind]: Factory<K> } = {
  'rel-rms': createRelativeRmsEvaluator,
  kl: createKlEvaluator,
  ctc: createCtcEvaluator,
  accuracy: createAccuracyEvaluator,
  custom: createCustomEvaluator,
};

/** A fresh evaluation of `spec` (validated: parseMetric) for one pass over the batches. */
export function createMetricEvaluator(spec: MetricSpec, target: MetricTarget): MetricEvaluator {
  return (METRICS[spec.kind] as Factory<MetricKind>)(spec as never, target);
}

/** Checks, before any model runs, that the outputs `spec` names are graph outputs of the reference. */
export function checkMetricOutputs(spec: MetricSpec, target: MetricTarget): void {
  if (spec.kind !== 'custom') checkRequestedOutputs(spec.kind, spec.outputs, target);
}
