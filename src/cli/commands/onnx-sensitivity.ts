import { z } from 'zod';
import type { MetricInput } from '../../onnx/metrics/metric-options.js';
import type { LayerQuantOptions, QuantizedPrecision } from '../../onnx/analysis/sensitivity-layers.js';
import type { SensitivityReport } from '../../onnx/analysis/sensitivity.js';
import type { CliCommand } from '../cli-command.js';
import type { CliIo } from '../cli-io.js';
import { UsageError } from '../exit-codes.js';
import { metricLabel } from '../format-metric.js';
import { fmt, table, toJson } from '../format-table.js';
import { checkMetricFlags, METRIC_FLAG_HELP, metricFlagShape, metricFromFlags } from '../metric-flags.js';
import { onnxFlags, warningLine } from '../onnx-flags.js';

const PRECISIONS = ['int8', 'int4'] as const;

/** Options shared by `onnx sensitivity` and `onnx quantize --auto`: how layers are quantized when measured. */
export const LayerOptions = z.object({
  inputs: z.string().min(1).optional(),
  precisions: z
    .string()
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean))
    .refine((l) => l.length > 0 && l.every((p) => (PRECISIONS as readonly string[]).includes(p)), { error: `--precisions expects a comma-separated list of ${PRECISIONS.join(', ')}` })
    .transform((l) => [...new Set(l)] as QuantizedPrecision[])
    .optional(),
  perChannel: z.boolean().optional(),
  symmetric: z.boolean().optional(),
  blockSize: onnxFlags.blockSize,
  opTypes: onnxFlags.opTypes,
  exclude: onnxFlags.exclude,
  json: z.boolean().optional(),
  ...metricFlagShape,
});

/** The metric flags checked (usage errors first), then mapped to the library's metric (a module loaded, labels read). */
export async function layerMetric(o: z.infer<typeof LayerOptions>): Promise<{ metric?: MetricInput }> {
  checkMetricFlags(o);
  const metric = await metricFromFlags(o);
  return metric !== undefined ? { metric } : {};
}

export function layerQuantOptions(o: z.infer<typeof LayerOptions>): LayerQuantOptions & { precisions?: readonly QuantizedPrecision[] } {
  return {
    ...(o.precisions !== undefined && { precisions: o.precisions }),
    ...(o.perChannel !== undefined && { perChannel: o.perChannel }),
    ...(o.blockSize !== undefined && { blockSize: o.blockSize }),
    ...(o.symmetric !== undefined && { symmetric: o.symmetric }),
    ...(o.opTypes !== undefined && { opTypes: o.opTypes }),
    ...(o.exclude !== undefined && { exclude: o.exclude }),
  };
}

export function warnGenerated(io: CliIo, source: string): void {
  if (source === 'generated') io.stderr.write(warningLine('no --inputs: errors measured on inputs generated from the input specs (uniform in [-1, 1)), which may not resemble real data'));
}

function summary(model: string, r: SensitivityReport): string {
  const kb = (b: number) => `${(b / 1024).toFixed(1)}`;
  const rows = r.layers.map((l, i) => {
    const cells = r.precisions.map((p) => {
      const x = l.results[p];
      return x?.status === 'measured' ? fmt(x.error) : 'n/a';
    });
    const first = Object.values(l.results).find((x) => x?.status === 'measured');
    return [String(i + 1), l.node, l.opType, ...cells, first?.status === 'measured' ? kb(first.weightBytesBefore) : '-'];
  });
  const lines = [
    `${model}: ${r.layers.length} layers, each quantized alone (weight-only), error = ${metricLabel(r.metric)}, ${r.batches} batch${r.batches === 1 ? '' : 'es'}; most sensitive first${r.baseline !== 0 ? ` (the float model's own: ${fmt(r.baseline)})` : ''}`,
    '',
    table([['#', 'node', 'op', ...r.precisions.map((p) => `${p} error`), 'weights KiB'], ...rows]),
  ];
  const na = r.layers.flatMap((l) => Object.entries(l.results).filter(([, x]) => x?.status === 'not-applicable').map(([p, x]) => `  ${l.node} ${p}: ${x?.status === 'not-applicable' ? x.reason : ''}`));
  if (na.length) lines.push('', 'not applicable:', ...na);
  if (r.skipped.length) lines.push('', `not quantizable (${r.skipped.length}):`, ...r.skipped.map((s) => `  ${s.node} [${s.opType}]: ${s.reason}`));
  return `${lines.join('\n')}\n`;
}

async function run(path: string, raw: Record<string, unknown>, io: CliIo): Promise<void> {
  const r = LayerOptions.safeParse(raw);
  if (!r.success) throw new UsageError(r.error.issues[0]!.message);
  const metric = await layerMetric(r.data);
  // Loaded when the command runs: onnx-buf and onnxruntime-node cost ~130 ms that other commands never need.
  const [{ comparisonBatches }, { loadModel }, { createOrtRunner }, { analyzeSensitivity }] = await Promise.all([
    import('../../node/onnx/comparison-batches.js'),
    import('../../node/onnx/onnx-file.js'),
    import('../../node/onnx/ort-runner.js'),
    import('../../onnx/analysis/sensitivity.js'),
  ]);
  const model = loadModel(path);
  const inputs = comparisonBatches(model, r.data.inputs);
  warnGenerated(io, inputs.label);
  const { report } = await analyzeSensitivity(model, createOrtRunner(), inputs.source, { ...layerQuantOptions(r.data), ...metric });
  io.stdout.write(r.data.json ? `${toJson({ version: 2, model: path, inputs: inputs.label, ...report })}\n` : summary(path, report));
}

export const onnxSensitivityCommand: CliCommand = {
  name: 'sensitivity',
  register(group, io) {
    group
      .command('sensitivity')
      .description('per layer, the output error when that layer alone is quantized (int8, int4), ranked')
      .argument('<model>', 'float .onnx model')
      .option('--inputs <dir>', '.npy files named after the model inputs (default: generated from the input specs)')
      .option('--precisions <list>', 'precisions to measure, comma-separated: int8,int4 (default both)')
      .option('--no-per-channel', 'int8 per tensor instead of per channel')
      .option('--block-size <n>', 'int4 block size (default 32)')
      .option('--op-types <list>', 'op types that are layers (default MatMul,Gemm,Conv)')
      .option('--exclude <node...>', 'node names left out')
      .option(...METRIC_FLAG_HELP[0])
      .option(...METRIC_FLAG_HELP[1])
      .option(...METRIC_FLAG_HELP[2])
      .option(...METRIC_FLAG_HELP[3])
      .option('--json', 'print one JSON object (fields in docs/onnx.md)')
      .addHelpText('after', '\nMetrics are those of `quantkit onnx compare --help`.\n\nExamples:\n  quantkit onnx sensitivity model.onnx --inputs inputs/ --precisions int8,int4\n  quantkit onnx sensitivity rec.onnx --inputs lines/ --metric ctc')
      .action(async (path: string, raw: Record<string, unknown>) => run(path, raw, io));
  },
};
