import { z } from 'zod';
import type { CompareFilesReport } from '../../node/onnx/onnx-compare-runner.js';
import type { CliCommand } from '../cli-command.js';
import type { CliIo } from '../cli-io.js';
import { UsageError } from '../exit-codes.js';
import { fmt, table, toJson } from '../format-table.js';
import { checkMetricFlags, METRIC_FLAG_HELP, metricFlagShape, metricFromFlags } from '../metric-flags.js';
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

async function run(a: string, b: string, raw: Record<string, unknown>, io: CliIo): Promise<void> {
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

export const onnxCompareCommand: CliCommand = {
  name: 'compare',
  register(group, io) {
    group
      .command('compare')
      .description('compare two ONNX models on the same inputs: errors per output and per layer, size, latency')
      .argument('<reference>', 'reference .onnx (usually the float model)')
      .argument('<candidate>', 'candidate .onnx (usually its quantized version)')
      .option('--inputs <dir>', '.npy files named after the model inputs (default: generated from the input specs)')
      .option('--runs <n>', 'timed runs for latency (median reported; default 10)')
      .option('--warmup <n>', 'untimed runs before timing (default 2)')
      .option('--no-latency', 'skip the latency measurement')
      .option('--no-layers', 'skip per-layer figures')
      .option(...METRIC_FLAG_HELP[0])
      .option(...METRIC_FLAG_HELP[1])
      .option(...METRIC_FLAG_HELP[2])
      .option(...METRIC_FLAG_HELP[3])
      .option('--json', 'print one JSON object (fields in docs/onnx.md)')
      .addHelpText(
        'after',
        `
Figures per output: max abs error, relative RMS error sqrt(sum (a-b)^2 / sum a^2), cosine similarity,
SQNR 10 log10(sum a^2 / sum (a-b)^2), and top-1/top-5 agreement for class scores (2-D [N, C], or
3-D [N, T, C] out of a softmax), top-1 also over the rows whose reference class is not the most
frequent one ("non-maj.": blank or background rows cannot carry it).
The comparison error is --metric (lower is better):
  rel-rms   the largest relative RMS error over the outputs (default)
  kl        mean KL divergence of the softmax distributions over the class axis, in nats
  ctc       greedy CTC decode of both models (--blank N, default 0); character error rate of the
            candidate's strings against the reference's
  accuracy  1 - accuracy of the candidate's argmax against --labels FILE.npy
  FILE.mjs  a module whose default export (reference, candidate, batch) => number is called per
            batch with every output as { data: Float32Array, dims }; the mean over batches

Examples:
  quantkit onnx compare model.onnx model.int8.onnx --inputs inputs/
  quantkit onnx compare rec.onnx rec.int8.onnx --inputs lines/ --metric ctc`,
      )
      .action(async (a: string, b: string, raw: Record<string, unknown>) => run(a, b, raw, io));
  },
};
