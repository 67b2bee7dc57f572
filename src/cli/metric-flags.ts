import type { MetricInput } from '../onnx/metrics/metric-options.js';
import { UsageError } from './exit-codes.js';

/** The built-in metrics by --metric name; anything else ending in .mjs or .js is a module path. */
export const BUILT_IN_METRICS = ['rel-rms', 'kl', 'ctc', 'accuracy'] as const;
export const METRIC_MODULE = /\.(mjs|js)$/;

type MetricFlags = { metric?: string | undefined; blank?: number | undefined; labels?: string | undefined; metricOutput?: string[] | undefined };

/** Commander keys of the metric flags: commands that do not measure reject them. */
export const METRIC_FLAG_KEYS = ['metric', 'blank', 'labels', 'metricOutput'] as const;

/** [flags, description] of each metric option, for commander. */
export const METRIC_FLAG_HELP = [
  ['--metric <name>', 'what the error is: rel-rms (default), kl, ctc, accuracy, or ./my-metric.mjs (lower is better)'],
  ['--blank <n>', 'with --metric ctc: the blank class index (default 0)'],
  ['--labels <file>', 'with --metric accuracy: .npy of integer class labels, one per output row, batches in order'],
  ['--metric-output <list>', 'outputs the metric scores, comma-separated (default: every class-score output; rel-rms: every output)'],
] as const;

/** Flags that only mean something with another: a usage error (exit 2) before any file is read. */
export function checkMetricFlags(o: MetricFlags): void {
  const metric = o.metric ?? 'rel-rms';
  if (o.blank !== undefined && metric !== 'ctc') throw new UsageError(`--blank applies to --metric ctc, got --metric ${metric}`);
  if (o.labels !== undefined && metric !== 'accuracy') throw new UsageError(`--labels applies to --metric accuracy, got --metric ${metric}`);
  if (metric === 'accuracy' && o.labels === undefined) throw new UsageError('--metric accuracy needs --labels FILE.npy (integer class labels, one per output row)');
  if (o.metricOutput !== undefined && METRIC_MODULE.test(metric)) throw new UsageError('--metric-output applies to the built-in metrics: a metric module receives every output');
}

/**
 * The library's metric for the flags (checked by checkMetricFlags): a built-in name with its
 * options, or a module loaded (src/node/onnx/metric-module.ts) and labels read from their .npy, or
 * undefined for the default.
 */
export async function metricFromFlags(o: MetricFlags): Promise<MetricInput | undefined> {
  const outputs = o.metricOutput !== undefined ? { outputs: o.metricOutput } : {};
  switch (o.metric) {
    case undefined:
      return o.metricOutput !== undefined ? { kind: 'rel-rms', ...outputs } : undefined;
    case 'rel-rms':
    case 'kl':
      return { kind: o.metric, ...outputs };
    case 'ctc':
      return { kind: 'ctc', ...(o.blank !== undefined && { blank: o.blank }), ...outputs };
    case 'accuracy': {
      const { readLabels } = await import('../node/onnx/metric-module.js');
      return { kind: 'accuracy', labels: readLabels(o.labels!), ...outputs };
    }
    default: {
      const { loadMetricModule } = await import('../node/onnx/metric-module.js');
      return loadMetricModule(o.metric);
    }
  }
}
