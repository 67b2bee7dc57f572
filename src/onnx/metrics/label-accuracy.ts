import { QuantError } from '../../core/errors.js';
import type { MetricEvaluator, MetricFigure, MetricTarget } from './metric.js';
import type { MetricSpec } from './metric-options.js';
import { checkRequestedOutputs, classCount, floatValues, outputPair, scoredOutputs } from './scored-outputs.js';

/** Index of the largest of `v[start, start + n)` (ties: the lower index). */
export function argmaxAt(v: Float32Array, start: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (v[start + j]! > v[start + best]!) best = j;
  return best;
}

/**
 * The `accuracy` metric: each row of a scored output (all dimensions but the last, batches in
 * order) is the prediction argmax over its classes, checked against `labels` read in the same
 * order; the value is 1 − accuracy of the candidate (lower is better), the largest over the
 * scored outputs, each of which must have exactly as many rows as there are labels.
 */
export function createAccuracyEvaluator(spec: Extract<MetricSpec, { kind: 'accuracy' }>, target: MetricTarget): MetricEvaluator {
  checkRequestedOutputs('accuracy', spec.outputs, target);
  const labels = spec.labels;
  let names: string[] | undefined;
  const totals = new Map<string, { rows: number; correct: number; referenceCorrect: number }>();
  return {
    add(reference, candidate, batch) {
      names ??= scoredOutputs('accuracy', spec.outputs, target, reference);
      for (const name of names) {
        const [r, c] = outputPair('accuracy', name, reference, candidate, batch);
        const classes = classCount('accuracy', name, r);
        const a = floatValues(r);
        const b = floatValues(c);
        const t = totals.get(name) ?? { rows: 0, correct: 0, referenceCorrect: 0 };
        const rows = a.length / classes;
        if (t.rows + rows > labels.length) {
          throw new QuantError('SHAPE_MISMATCH', `metric accuracy: ${labels.length} labels, but output '${name}' has more rows (${t.rows + rows} by batch ${batch + 1}): expected one label per row, over every batch`);
        }
        for (let row = 0; row < rows; row++) {
          const label = labels[t.rows + row]!;
          if (label >= classes) throw new QuantError('INVALID_ARGUMENT', `metric accuracy: label ${label} (row ${t.rows + row}) is not a class of output '${name}' (${classes} classes, 0 to ${classes - 1})`);
          if (argmaxAt(b, row * classes, classes) === label) t.correct++;
          if (argmaxAt(a, row * classes, classes) === label) t.referenceCorrect++;
        }
        t.rows += rows;
        totals.set(name, t);
      }
    },
    result() {
      const figures: MetricFigure[] = (names ?? []).map((name) => {
        const t = totals.get(name) ?? { rows: 0, correct: 0, referenceCorrect: 0 };
        if (t.rows !== labels.length) throw new QuantError('SHAPE_MISMATCH', `metric accuracy: ${labels.length} labels, but output '${name}' has ${t.rows} rows: expected one label per row, over every batch`);
        return { kind: 'accuracy', output: name, value: 1 - t.correct / t.rows, rows: t.rows, accuracy: t.correct / t.rows, referenceAccuracy: t.referenceCorrect / t.rows };
      });
      return { metric: 'accuracy', value: Math.max(0, ...figures.map((f) => f.value)), figures };
    },
  };
}
