import type { CliCommand } from '../cli-command.js';
import { METRIC_FLAG_HELP } from '../metric-flags.js';

// The options and help alone: the flag schema (zod) and the analysis load when the command runs.
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
      .action(async (path: string, raw: Record<string, unknown>) => (await import('./onnx-sensitivity-run.js')).runOnnxSensitivity(path, raw, io));
  },
};
