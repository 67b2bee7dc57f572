import { statSync } from 'node:fs';
import { z } from 'zod';
import type { AutoPrecisionReport } from '../../onnx/analysis/auto-precision.js';
import type { CliIo } from '../cli-io.js';
import { UsageError } from '../exit-codes.js';
import { describeMetric, metricLabel } from '../format-metric.js';
import { fmt, table, toJson } from '../format-table.js';
import { warningLine } from '../onnx-flags.js';
import { checkOutputPaths } from '../output-paths.js';
import { LayerOptions, layerMetric, layerQuantOptions, warnGenerated } from '../layer-options.js';

const AutoOptions = LayerOptions.extend({
  output: z.string().min(1, { error: '-o/--output needs a path' }),
  maxError: z
    .string({ error: '--auto needs --max-error E (a bound on --metric; for the default rel-rms, e.g. 0.01)' })
    .refine((s) => /^\d*\.?\d+(e-?\d+)?$/i.test(s) && Number.isFinite(Number(s)), { error: (i) => `--max-error expects a number >= 0 such as 0.01, got '${String(i.input)}'` })
    .transform(Number),
  mode: z.literal('weight-only', { error: (i) => `--auto picks weight-only precisions per layer: expected --mode weight-only, got --mode ${String(i.input)}` }),
  externalData: z.boolean().optional(),
  force: z.boolean().optional(),
});

/** onnx quantize options that --auto does not use, by commander key (--dtype int8, the default, is harmless). */
const AUTO_IGNORES = [
  ['dtype', '--dtype'],
  ['observer', '--observer'],
  ['format', '--format'],
  ['int4Form', '--int4-form'],
  ['quantizeBias', '--quantize-bias'],
  ['method', '--method'],
  ['damp', '--damp'],
  ['actOrder', '--act-order'],
  ['floatTargets', '--float-targets'],
  ['raiseOpset', '--raise-opset'],
] as const;

function summary(input: string, output: string, r: AutoPrecisionReport, inBytes: number, outBytes: number, seconds: number): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  const lines = [
    `${input} -> ${output}: automatic precision within ${r.maxError} of ${metricLabel(r.metric)} in ${seconds.toFixed(2)} s`,
    `chose ${r.counts.int4} int4, ${r.counts.int8} int8, ${r.counts.float} float; measured error ${fmt(r.error)} (predicted ${fmt(r.predictedError)}); ${r.steps} steps taken (${r.plannedSteps} predicted to fit), ${r.verifications.length} models verified`,
    `model ${mb(inBytes)} -> ${mb(outBytes)}; quantized weights ${mb(r.weightBytesBefore)} -> ${mb(r.weightBytesAfter)}`,
    ...(r.metric === 'rel-rms' ? [] : describeMetric(r.metric, r.error, r.figures)),
    '',
    table([['node', 'op', 'precision', 'int8 alone', 'int4 alone'], ...r.layers.map((l) => [l.node, l.opType, l.precision, fmt(l.isolatedError.int8), fmt(l.isolatedError.int4)])]),
    '',
    'why:',
    ...r.layers.map((l) => `  ${l.node}: ${l.reason}`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * `quantkit onnx quantize --auto --max-error E`: sensitivity, greedy per-layer precision and
 * verification (autoPrecision) on the --inputs data, then the chosen model is written.
 */
export async function runAutoQuantize(input: string, raw: Record<string, unknown>, io: CliIo): Promise<void> {
  // These shape a fixed-precision quantization; --auto would drop them silently.
  const fixed = AUTO_IGNORES.filter(([key]) => raw[key] !== undefined && !(key === 'dtype' && raw[key] === 'int8')).map(([, flag]) => flag);
  if (fixed.length) throw new UsageError(`--auto picks int4, int8 or float per layer (weight-only): drop ${fixed.join(', ')}`);
  const r = AutoOptions.safeParse({ ...raw, inputs: raw.inputs ?? raw.calibration });
  if (!r.success) throw new UsageError(r.error.issues[0]!.message);
  const o = r.data;
  checkOutputPaths({ inputs: [input], outputs: [{ path: o.output, format: 'onnx', flag: '-o' }], force: o.force });
  const metric = await layerMetric(o);
  const started = performance.now();
  // Loaded when the command runs: onnx-buf and onnxruntime-node cost ~130 ms that other commands never need.
  const [{ comparisonBatches }, { loadModel, saveModel }, { assertInputModelLoads, assertOutputModelLoads }, { createOrtRunner }, { autoPrecision }] = await Promise.all([
    import('../../node/onnx/comparison-batches.js'),
    import('../../node/onnx/onnx-file.js'),
    import('../../node/onnx/ort-model-check.js'),
    import('../../node/onnx/ort-runner.js'),
    import('../../onnx/analysis/auto-precision.js'),
  ]);
  const model = loadModel(input);
  await assertInputModelLoads(input);
  const inputs = comparisonBatches(model, o.inputs);
  warnGenerated(io, inputs.label);
  const result = await autoPrecision(model, createOrtRunner(), inputs.source, { ...layerQuantOptions(o), ...metric, maxError: o.maxError });
  if (!result.report.withinBound) {
    io.stderr.write(warningLine(`even the float model misses --max-error ${o.maxError} (${result.report.metric} ${fmt(result.report.error)}): writing it unquantized`));
  }
  await assertOutputModelLoads(result.model, o.output);
  const written = saveModel(o.output, result.model, { externalData: o.externalData ?? false });
  const inBytes = statSync(input).size;
  const outBytes = written.reduce((s, p) => s + statSync(p).size, 0);
  const seconds = (performance.now() - started) / 1000;
  if (o.json) {
    io.stdout.write(`${toJson({ input, output: o.output, files: written, inputs: inputs.label, inputBytes: inBytes, outputBytes: outBytes, seconds, auto: result.report, report: result.quantizeReport })}\n`);
  } else {
    io.stdout.write(summary(input, o.output, result.report, inBytes, outBytes, seconds));
  }
}
