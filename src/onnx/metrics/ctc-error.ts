import { QuantError } from '../../core/errors.js';
import type { MetricEvaluator, MetricFigure, MetricTarget } from './metric.js';
import type { MetricSpec } from './metric-options.js';
import { checkRequestedOutputs, classCount, floatValues, outputPair, scoredOutputs } from './scored-outputs.js';

/**
 * Greedy CTC decoding of one sequence of T steps × C class scores starting at `start`: the argmax
 * of each step (ties: the lower index), repeats collapsed, `blank` dropped. Example with blank 0:
 * argmaxes 0 3 3 0 3 5 5 → 3 3 5.
 */
export function ctcGreedyDecode(v: Float32Array, start: number, steps: number, classes: number, blank: number): number[] {
  const out: number[] = [];
  let previous = -1;
  for (let t = 0; t < steps; t++) {
    const base = start + t * classes;
    let best = 0;
    for (let j = 1; j < classes; j++) if (v[base + j]! > v[base + best]!) best = j;
    if (best !== previous && best !== blank) out.push(best);
    previous = best;
  }
  return out;
}

/** Levenshtein distance: the fewest insertions, deletions and substitutions that turn `a` into `b`. */
export function editDistance(a: readonly number[], b: readonly number[]): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** Character error rate: Σ edits / Σ reference lengths; 0 when both are 0, Infinity when only the references are empty. */
export function characterErrorRate(edits: number, referenceCharacters: number): number {
  return referenceCharacters > 0 ? edits / referenceCharacters : edits === 0 ? 0 : Infinity;
}

/**
 * The `ctc` metric: both models' outputs decoded greedily (ctcGreedyDecode) and the candidate's
 * strings scored against the reference's by character error rate, over every sequence of every
 * batch. An output of rank ≥ 3 is [..., T, C], each leading index a sequence; rank 2 is one
 * sequence [T, C]. The value is the largest CER over the scored outputs.
 */
export function createCtcEvaluator(spec: Extract<MetricSpec, { kind: 'ctc' }>, target: MetricTarget): MetricEvaluator {
  checkRequestedOutputs('ctc', spec.outputs, target);
  let names: string[] | undefined;
  const totals = new Map<string, { sequences: number; referenceCharacters: number; edits: number; emptyCandidate: number }>();
  return {
    add(reference, candidate, batch) {
      names ??= scoredOutputs('ctc', spec.outputs, target, reference);
      for (const name of names) {
        const [r, c] = outputPair('ctc', name, reference, candidate, batch);
        const classes = classCount('ctc', name, r);
        if (spec.blank >= classes) throw new QuantError('INVALID_ARGUMENT', `metric ctc: blank ${spec.blank} is not a class of output '${name}' (${classes} classes, 0 to ${classes - 1})`);
        const steps = r.dims[r.dims.length - 2] ?? 1;
        const a = floatValues(r);
        const b = floatValues(c);
        const t = totals.get(name) ?? { sequences: 0, referenceCharacters: 0, edits: 0, emptyCandidate: 0 };
        for (let start = 0; start < a.length; start += steps * classes) {
          const ref = ctcGreedyDecode(a, start, steps, classes, spec.blank);
          const got = ctcGreedyDecode(b, start, steps, classes, spec.blank);
          t.sequences++;
          t.referenceCharacters += ref.length;
          t.edits += editDistance(ref, got);
          if (ref.length > 0 && got.length === 0) t.emptyCandidate++;
        }
        totals.set(name, t);
      }
    },
    result() {
      const figures: MetricFigure[] = (names ?? []).map((name) => {
        const t = totals.get(name) ?? { sequences: 0, referenceCharacters: 0, edits: 0, emptyCandidate: 0 };
        return { kind: 'ctc', output: name, blank: spec.blank, value: characterErrorRate(t.edits, t.referenceCharacters), ...t };
      });
      return { metric: 'ctc', value: Math.max(0, ...figures.map((f) => f.value)), figures };
    },
  };
}
