import type { OutputMetrics } from '../analysis/compare-metrics.js';
import type { TensorMap } from '../run-model.js';

/**
 * How an output's last axis holds class scores: `probabilities` when a Softmax produced it (read
 * as given), `scores` otherwise (logits, or a LogSoftmax's log-probabilities: log-softmax is taken,
 * which leaves log-probabilities unchanged).
 */
export type ScoreForm = 'probabilities' | 'scores';

/** What a metric is evaluated on: the reference model's graph outputs, and which come from a softmax. */
export interface MetricTarget {
  /** Graph outputs, in the reference's order. */
  readonly outputs: readonly string[];
  /** Graph outputs produced by Softmax or LogSoftmax (see softmaxOutputs). */
  readonly softmax: ReadonlySet<string>;
  /** Graph outputs produced by Softmax alone: their values are probabilities. */
  readonly probabilities: ReadonlySet<string>;
  /** Batches in one pass (known from the reference run). */
  readonly batches: number;
}

/** The metric's figure on one output, with what it was computed from. */
export type MetricFigure =
  | { readonly kind: 'rel-rms'; readonly output: string; readonly value: number }
  | {
      readonly kind: 'kl';
      readonly output: string;
      /** Mean over rows of Σ p log(p / q), in nats. */
      readonly value: number;
      readonly rows: number;
      readonly scores: ScoreForm;
    }
  | {
      readonly kind: 'ctc';
      readonly output: string;
      readonly blank: number;
      /** Character error rate: edits / referenceCharacters. */
      readonly value: number;
      readonly sequences: number;
      readonly referenceCharacters: number;
      readonly edits: number;
      /** Sequences where the reference decoded to something and the candidate to nothing. */
      readonly emptyCandidate: number;
    }
  | {
      readonly kind: 'accuracy';
      readonly output: string;
      /** 1 − accuracy of the candidate against the labels. */
      readonly value: number;
      readonly rows: number;
      readonly accuracy: number;
      /** The reference's own accuracy on the same labels. */
      readonly referenceAccuracy: number;
    };

/** What a comparison is judged by: one number, lower is better, and how it was made. */
export interface MetricResult {
  /** 'rel-rms', 'kl', 'ctc', 'accuracy', or a custom metric's name (its module path). */
  readonly metric: string;
  /** The number sensitivity ranks by and --max-error bounds: the largest figure over the outputs, or a custom metric's mean over batches. */
  readonly value: number;
  /** Per output the metric covers (none for a custom metric). */
  readonly figures: readonly MetricFigure[];
}

/** One evaluation of a metric over a pass of batches: add() each batch's outputs, then result(). */
export interface MetricEvaluator {
  add(reference: TensorMap, candidate: TensorMap, batch: number): void | Promise<void>;
  /** `outputs`: the OutputMetrics of the same pass, for metrics derived from them. */
  result(outputs: readonly OutputMetrics[]): MetricResult;
}
