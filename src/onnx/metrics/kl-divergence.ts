import type { MetricEvaluator, MetricFigure, MetricTarget, ScoreForm } from './metric.js';
import type { MetricSpec } from './metric-options.js';
import { checkRequestedOutputs, classCount, floatValues, outputPair, scoredOutputs } from './scored-outputs.js';

/** log of the smallest positive float32 (2^-149): a probability a float32 softmax printed as 0 was at most this. */
const LOG_TINY = -149 * Math.LN2;

/** Writes the natural-log distribution of `v[start, start + n)` into `out`, as `form` says the values are. */
function logDistribution(v: Float32Array, start: number, n: number, form: ScoreForm, out: Float64Array): void {
  if (form === 'probabilities') {
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.max(0, v[start + j]!);
    // A row with no mass has no class: every log p is −∞ (the reference's terms count 0, the candidate's are floored).
    for (let j = 0; j < n; j++) out[j] = sum > 0 ? Math.log(Math.max(0, v[start + j]!) / sum) : -Infinity;
    return;
  }
  // log-softmax, shifted by the maximum so exp never overflows.
  let max = -Infinity;
  for (let j = 0; j < n; j++) max = Math.max(max, v[start + j]!);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(v[start + j]! - max);
  const lse = max + Math.log(sum);
  for (let j = 0; j < n; j++) out[j] = v[start + j]! - lse;
}

/**
 * KL(P ‖ Q) = Σ_i p_i (log p_i − log q_i) in nats, of one row of C class scores: P from the
 * reference `a`, Q from the candidate `b`. As `form` says: probabilities are clamped at 0 and
 * renormalized; scores (logits, log-probabilities) go through log-softmax. log q is floored at
 * log 2^-149 (a float32 softmax's 0 was smaller than that), so a candidate that rounds a class to
 * 0 costs at most p · 103 instead of infinity. Terms with p = 0 count 0. A non-finite value in a
 * row (NaN, or an infinite score) makes the row Infinity.
 * Example: P = (0.5, 0.5), Q = (0.25, 0.75) as probabilities: 0.5 ln 2 + 0.5 ln(2/3) ≈ 0.1438.
 */
export function klDivergenceRow(a: Float32Array, b: Float32Array, start: number, classes: number, form: ScoreForm, scratch = { p: new Float64Array(classes), q: new Float64Array(classes) }): number {
  for (let j = 0; j < classes; j++) if (!Number.isFinite(a[start + j]!) || !Number.isFinite(b[start + j]!)) return Infinity;
  logDistribution(a, start, classes, form, scratch.p);
  logDistribution(b, start, classes, form, scratch.q);
  let kl = 0;
  for (let j = 0; j < classes; j++) {
    const lp = scratch.p[j]!;
    if (lp === -Infinity) continue;
    kl += Math.exp(lp) * (lp - Math.max(scratch.q[j]!, LOG_TINY));
  }
  // Rounding can leave −1e-17 for identical rows; KL is never negative.
  return Math.max(0, kl);
}

/** The `kl` metric: per scored output, the mean over rows of KL(reference ‖ candidate); the value is the largest. */
export function createKlEvaluator(spec: Extract<MetricSpec, { kind: 'kl' }>, target: MetricTarget): MetricEvaluator {
  checkRequestedOutputs('kl', spec.outputs, target);
  let names: string[] | undefined;
  const sums = new Map<string, { sum: number; rows: number }>();
  return {
    add(reference, candidate, batch) {
      names ??= scoredOutputs('kl', spec.outputs, target, reference);
      for (const name of names) {
        const [r, c] = outputPair('kl', name, reference, candidate, batch);
        const classes = classCount('kl', name, r);
        const a = floatValues(r);
        const b = floatValues(c);
        const form: ScoreForm = target.probabilities.has(name) ? 'probabilities' : 'scores';
        const scratch = { p: new Float64Array(classes), q: new Float64Array(classes) };
        const s = sums.get(name) ?? { sum: 0, rows: 0 };
        for (let start = 0; start < a.length; start += classes) s.sum += klDivergenceRow(a, b, start, classes, form, scratch);
        s.rows += a.length / classes;
        sums.set(name, s);
      }
    },
    result() {
      const figures: MetricFigure[] = (names ?? []).map((name) => {
        const s = sums.get(name) ?? { sum: 0, rows: 0 };
        return { kind: 'kl', output: name, value: s.rows ? s.sum / s.rows : 0, rows: s.rows, scores: target.probabilities.has(name) ? 'probabilities' : 'scores' };
      });
      return { metric: 'kl', value: Math.max(0, ...figures.map((f) => f.value)), figures };
    },
  };
}
