import { QuantError } from '../../core/errors.js';
import type { TensorMap } from '../run-model.js';
import type { MetricEvaluator, MetricTarget } from './metric.js';
import type { MetricSpec, MetricTensor } from './metric-options.js';
import { floatValues } from './scored-outputs.js';

function tensors(outputs: readonly string[], map: TensorMap): Record<string, MetricTensor> {
  // Null prototype: output names come from the model file, and '__proto__' must stay a name.
  const out = Object.create(null) as Record<string, MetricTensor>;
  for (const name of outputs) {
    const t = map[name];
    if (t) out[name] = { data: floatValues(t).slice(), dims: [...t.dims] };
  }
  return out;
}

function describe(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (v === null) return 'null';
  return typeof v;
}

/**
 * A metric passed in as a function (CustomMetricFunction): called once per batch with copies of
 * every graph output of both models as float32; the value is the mean of what it returns. A call
 * that throws, or returns anything but a number (NaN included), is an INVALID_ARGUMENT naming the
 * metric and the batch.
 */
export function createCustomEvaluator(spec: Extract<MetricSpec, { kind: 'custom' }>, target: MetricTarget): MetricEvaluator {
  let sum = 0;
  let calls = 0;
  return {
    async add(reference, candidate, batch) {
      let v: unknown;
      try {
        v = await spec.evaluate(tensors(target.outputs, reference), tensors(target.outputs, candidate), { index: batch, count: target.batches });
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw new QuantError('INVALID_ARGUMENT', `metric ${spec.name} threw on batch ${batch + 1}: ${why}`, { cause: e });
      }
      if (typeof v !== 'number' || Number.isNaN(v)) {
        throw new QuantError('INVALID_ARGUMENT', `metric ${spec.name} returned ${describe(v)} on batch ${batch + 1}: expected a number (lower is better)`);
      }
      sum += v;
      calls++;
    },
    result() {
      return { metric: spec.name, value: calls ? sum / calls : 0, figures: [] };
    },
  };
}
