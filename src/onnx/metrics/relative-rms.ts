import { comparisonError } from '../analysis/compare-metrics.js';
import type { MetricEvaluator, MetricTarget } from './metric.js';
import type { MetricSpec } from './metric-options.js';
import { checkRequestedOutputs } from './scored-outputs.js';

/**
 * The `rel-rms` metric: per output √(Σ(a − b)² / Σa²) (OutputMetrics.relativeRmsError, Infinity
 * on NaN mismatches), the value the largest over the outputs (all, or those asked for).
 */
export function createRelativeRmsEvaluator(spec: Extract<MetricSpec, { kind: 'rel-rms' }>, target: MetricTarget): MetricEvaluator {
  checkRequestedOutputs('rel-rms', spec.outputs, target);
  const names = spec.outputs ?? target.outputs;
  return {
    add() {},
    result(outputs) {
      const scored = outputs.filter((o) => names.includes(o.name));
      return {
        metric: 'rel-rms',
        value: comparisonError(scored),
        figures: scored.map((o) => ({ kind: 'rel-rms', output: o.name, value: comparisonError([o]) })),
      };
    },
  };
}
