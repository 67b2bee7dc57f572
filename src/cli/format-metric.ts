import type { MetricFigure } from '../onnx/metrics/metric.js';
import { fmt } from './format-table.js';

/** What each built-in metric's number is, as the summaries name it. */
const METRIC_LABELS: Readonly<Record<string, string>> = {
  'rel-rms': 'max relative RMS over outputs',
  kl: 'kl: mean KL divergence of the softmax distributions over the class axis, nats',
  ctc: 'ctc: character error rate of the greedy CTC decodes',
  accuracy: 'accuracy: 1 - accuracy against the labels',
};

/** One line per scored output saying what its figure was computed from. */
function figureLine(f: MetricFigure): string | null {
  switch (f.kind) {
    case 'rel-rms':
      return null;
    case 'kl':
      return `  ${f.output}: ${fmt(f.value)} over ${f.rows} rows (${f.scores === 'probabilities' ? 'probabilities as the softmax gave them' : 'log-softmax of the scores'})`;
    case 'ctc':
      return `  ${f.output}: ${fmt(f.value)} = ${f.edits} edits / ${f.referenceCharacters} reference characters over ${f.sequences} sequences (blank ${f.blank}); ${f.emptyCandidate} decoded to nothing where the reference read text`;
    case 'accuracy':
      return `  ${f.output}: candidate accuracy ${fmt(f.accuracy)}, reference accuracy ${fmt(f.referenceAccuracy)}, over ${f.rows} rows`;
  }
}

/** The summary lines of a measured metric: its name and value, then per scored output what it came from. */
export function describeMetric(metric: string, value: number, figures: readonly MetricFigure[]): string[] {
  const label = METRIC_LABELS[metric] ?? `${metric}: mean over batches`;
  const lines = [`comparison error (${label}): ${fmt(value)}`];
  for (const f of figures) {
    const line = figureLine(f);
    if (line) lines.push(line);
  }
  return lines;
}

/** The metric's name as a heading says it ("max relative RMS over outputs", "ctc: character error rate ..."). */
export function metricLabel(metric: string): string {
  return METRIC_LABELS[metric] ?? `${metric} (mean over batches)`;
}
