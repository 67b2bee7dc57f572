import type { CliCommand } from '../cli-command.js';
import { METRIC_FLAG_HELP } from '../metric-flags.js';

// The options and help alone: the flag schema (zod) and the comparison load when the command runs.
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
      .action(async (a: string, b: string, raw: Record<string, unknown>) => (await import('./onnx-compare-run.js')).runOnnxCompare(a, b, raw, io));
  },
};
