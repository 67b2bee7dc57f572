import type { SensitivityReport } from '../../onnx/analysis/sensitivity.js';
import type { CliIo } from '../cli-io.js';
import { UsageError } from '../exit-codes.js';
import { metricLabel } from '../format-metric.js';
import { fmt, table, toJson } from '../format-table.js';
import { LayerOptions, layerMetric, layerQuantOptions, warnGenerated } from '../layer-options.js';

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

/** `quantkit onnx sensitivity`: flags checked, each layer quantized alone and measured, the ranking printed. */
export async function runOnnxSensitivity(path: string, raw: Record<string, unknown>, io: CliIo): Promise<void> {
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
