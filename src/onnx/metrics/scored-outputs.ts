import { QuantError } from '../../core/errors.js';
import { bfloat16BitsToFloat32 } from '../../core/bfloat16.js';
import { float16BitsToFloat32 } from '../../core/float16.js';
import type { TensorData } from '../../formats/onnx/tensor.js';
import { isClassifierLike } from '../analysis/compare-metrics.js';
import type { TensorMap } from '../run-model.js';
import type { MetricTarget } from './metric.js';

/** A tensor's values as float32 (float16/bfloat16 decoded from their bits, integers converted). */
export function floatValues(t: TensorData): Float32Array {
  const v = t.values;
  if (t.dtype === 'float32' && v instanceof Float32Array) return v;
  if (t.dtype === 'float16' && v instanceof Uint16Array) return float16BitsToFloat32(v);
  if (t.dtype === 'bfloat16' && v instanceof Uint16Array) return bfloat16BitsToFloat32(v);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Number(v[i]!);
  return out;
}

/** Checks that every requested output is a graph output; throws INVALID_ARGUMENT listing them otherwise. */
export function checkRequestedOutputs(metric: string, requested: readonly string[] | undefined, target: MetricTarget): void {
  for (const name of requested ?? []) {
    if (!target.outputs.includes(name)) {
      throw new QuantError('INVALID_ARGUMENT', `metric ${metric}: the model has no output '${name}': expected one of ${target.outputs.join(', ')}`);
    }
  }
}

/**
 * The outputs a class-score metric (kl, ctc, accuracy) is computed on: those requested, or every
 * output that holds class scores (isClassifierLike: [N, C], or [N, T, C] out of a softmax), decided
 * on the first batch. Throws INVALID_ARGUMENT when none does, listing the outputs and their shapes.
 */
export function scoredOutputs(metric: string, requested: readonly string[] | undefined, target: MetricTarget, first: TensorMap): string[] {
  if (requested) return [...requested];
  const chosen = target.outputs.filter((n) => first[n] && isClassifierLike(first[n].dims, target.softmax.has(n)));
  if (chosen.length === 0) {
    const shapes = target.outputs.map((n) => `${n} [${first[n]?.dims.join(', ') ?? '?'}]`).join(', ');
    throw new QuantError('INVALID_ARGUMENT', `metric ${metric} needs class scores, and no output is [N, C] or [N, T, C] out of a softmax (outputs: ${shapes}): name the output to score (--metric-output)`);
  }
  return chosen;
}

/** The last dimension, checked: the class axis must hold at least 2 classes. */
export function classCount(metric: string, name: string, t: TensorData): number {
  const c = t.dims[t.dims.length - 1] ?? 0;
  if (t.dims.length < 1 || c < 2) throw new QuantError('SHAPE_MISMATCH', `metric ${metric}: output '${name}' has shape [${t.dims.join(', ')}]: expected class scores on the last axis (at least 2 classes)`);
  return c;
}

/** The reference's and candidate's tensors of `name` in one batch, of the same shape. */
export function outputPair(metric: string, name: string, reference: TensorMap, candidate: TensorMap, batch: number): [TensorData, TensorData] {
  const r = reference[name];
  const c = candidate[name];
  if (!r || !c) throw new QuantError('INVALID_ARGUMENT', `metric ${metric}: output '${name}' is missing from the ${r ? 'candidate' : 'reference'}'s results of batch ${batch + 1}`);
  if (r.dims.length !== c.dims.length || r.dims.some((d, i) => d !== c.dims[i])) {
    throw new QuantError('SHAPE_MISMATCH', `metric ${metric}: output '${name}': expected the candidate's shape to equal the reference's [${r.dims.join(', ')}], got [${c.dims.join(', ')}]`);
  }
  return [r, c];
}
