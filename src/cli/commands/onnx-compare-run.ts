import { z } from 'zod';
import type { CompareFilesReport } from '../../node/onnx/onnx-compare-runner.js';
import type { CliIo } from '../cli-io.js';
import { UsageError } from '../exit-codes.js';
import { fmt, table, toJson } from '../format-table.js';
import { metricFlagShape } from '../metric-flag-schema.js';
import { checkMetricFlags, metricFromFlags } from '../metric-flags.js';
import { warningLine } from '../onnx-flags.js';
import { describeMetric } from '../format-metric.js';

const count = (flag: string, min: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: (i) => `${flag} expects an integer >= ${min}, got '${String(i.input)}'` })
    .transform(Number)
    .refine((n) => n >= min, { error: `${flag} expects an integer >= ${min}` })
    .optional();

const Options = z.object({
  inputs: z.string().min(1).optional(),
  json: z.boolean().optional(),
  runs: count('--runs', 1),
  warmup: count('--warmup', 0),
  latency: z.boolean().optional(),
  layers: z.boolean().optional(),
  ...metricFlagShape,
});

const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
const LAYER_ROWS = 10;

function summary(r: CompareFilesReport): string {
  const lines = [
    `reference ${r.reference.path} (${mb(r.reference.bytes)}), candidate ${r.candidate.path} (${mb(r.candidate.bytes)}): size ratio ${fmt(r.sizeRatio, 3)}`,
    `inputs: ${r.inputs === 'generated' ? 'generated from the input specs (uniform in [-1, 1), seed 0)' : r.inputs}, ${r.batches} batch${r.batches === 1 ? '' : 'es'}`,
    '',
    table([
      ['output', 'shape', 'max abs', 'rel RMS', 'cosine', 'SQNR dB', 'top-1', 'top-1 non-maj.', 'top-5'],
      ...r.outputs.map((o) => [
        o.name,
        `[${o.dims.join(',')}]`,
        fmt(o.maxAbsError),
        fmt(o.relativeRmsError),
        fmt(o.cosine, 6),
        fmt(o.sqnrDb),
        fmt(o.classifier?.top1Agreement),
        fmt(o.classifier?.nonMajorityTop1Agreement),
        fmt(o.classifier?.top5Agreement),
      ]),
    ]),
  ];
  for (const o of r.outputs) {
    const c = o.classifier;
    if (c && c.majorityShare > 0.5) {
      lines.push(`${o.name}: class ${c.majorityClass} is the reference's top class on ${fmt(c.majorityShare * 100, 3)}% of rows; on the other ${c.nonMajorityRows} rows top-1 agrees ${fmt(c.nonMajorityTop1Agreement)}`);
    }
  }
  lines.push('', ...describeMetric(r.metric, r.error, r.figures));
  if (r.latency) {
    lines.push(
      `latency in onnxruntime-node (median of ${r.latency.reference.runs} runs after ${r.latency.reference.warmup} warm-up): reference ${fmt(r.latency.reference.medianMs)} ms, candidate ${fmt(r.latency.candidate.medianMs)} ms, ratio ${fmt(r.latency.ratio, 3)}`,
    );
    if (r.latency.advice) lines.push(`slower: ${r.latency.advice}`);
  }
  if (r.layers.length) {
    const worst = [...r.layers].sort((a, b) => b.relativeRmsError - a.relativeRmsError).slice(0, LAYER_ROWS);
    lines.push('', `layers: ${r.layers.length} compared by output name; ${worst.length === r.layers.length ? 'all' : `the ${worst.length} largest errors`} (--json lists all):`);
    lines.push(table([['node', 'op', 'output', 'rel RMS', 'cosine', 'SQNR dB'], ...worst.map((l) => [l.node, l.opType, l.output, fmt(l.relativeRmsError), fmt(l.cosine, 6), fmt(l.sqnrDb)])]));
  }
  return `${lines.join('\n')}\n`;
}

/** `quantkit onnx compare`: flags checked, both models run on the same inputs, the report printed. */
export async function runOnnxCompare(a: string, b: string, raw: Record<string, unknown>, io: CliIo): Promise<void> {
  const r = Options.safeParse(raw);
  if (!r.success) throw new UsageError(r.error.issues[0]!.message);
  const o = r.data;
  // Loaded when the command runs: onnx-buf and onnxruntime-node cost ~130 ms that other commands never need.
  const { compareModelFiles } = await import('../../node/onnx/onnx-compare-runner.js');
  checkMetricFlags(o);
  const metric = await metricFromFlags(o);
  const report = await compareModelFiles(a, b, {
    ...(metric !== undefined && { metric }),
    ...(o.inputs !== undefined && { inputsDir: o.inputs }),
    ...(o.runs !== undefined && { runs: o.runs }),
    ...(o.warmup !== undefined && { warmup: o.warmup }),
    latency: o.latency ?? true,
    layers: o.layers ?? true,
    onGeneratedInputs: () => io.stderr.write(warningLine('no --inputs: comparing on inputs generated from the input specs (uniform in [-1, 1)), which may not resemble real data')),
  });
  io.stdout.write(o.json ? `${toJson(report)}\n` : summary(report));
}
