import type { CliCommand } from '../cli-command.js';
import { UsageError } from '../exit-codes.js';
import { createProgress } from '../progress.js';
import { workersFlag } from '../quant-options.js';
import { choiceFlag, pathFlag, switchFlag } from '../flag-values.js';
import { checkArrayCommandOutputs } from '../output-paths.js';
import { withOutputs } from '../run-outputs.js';
import { isSafetensorsPath, runSafetensorsDequantize } from '../safetensors-run.js';

const OUT_DTYPES = ['source', 'F32', 'F16', 'BF16', 'F64'] as const;

function parseDequantizeOptions(raw: Record<string, unknown>) {
  return {
    output: pathFlag(raw.output, '-o/--output needs a path') ?? '',
    params: pathFlag(raw.params, '--params needs a path'),
    workers: workersFlag(raw.workers),
    force: switchFlag(raw.force),
    outDtype: choiceFlag(raw.outDtype, OUT_DTYPES, (got) => `--out-dtype must be source, F32, F16, BF16 or F64, got ${JSON.stringify(got)}`),
  };
}

export const dequantizeCommand: CliCommand = {
  name: 'dequantize',
  register(program, io) {
    program
      .command('dequantize')
      .description('codes back to float32: x = (q - zero_point) * scale (ONNX DequantizeLinear)')
      .argument('<input>', 'codes .npy or .safetensors, as quantize writes them')
      .option('--params <file>', 'the parameters file quantize wrote (--params-out: .json, or .safetensors binary); .npy input only')
      .requiredOption('-o, --output <path>', 'output float32 .npy (or .safetensors)')
      .option('--out-dtype <type>', 'safetensors: the restored float type, source (each tensor\'s own, default), F32, F16, BF16 or F64')
      .option('--workers <n>', 'worker threads for the kernels (default 1: streaming a file is I/O-bound, see bench/cli.bench.mjs)')
      .option('--force', 'let -o replace the input file')
      .addHelpText(
        'after',
        `
Unpacked codes must be int8/uint8 (up to 8 bits) or int16/uint16 (above), of a shape the parameters
fit. Packed codes (quantize --pack) are accepted when the parameters file says "packed": true; its
"tensor_shape" gives the output shape, and the input must be a flat uint8 array of
ceil(n*bits/8) bytes.

A .safetensors input written by quantize carries its parameters: each quantized tensor is restored
in the float type it had (or --out-dtype), its W.scale and W.zero_point are dropped, and every other
tensor is copied unchanged.

Examples:
  quantkit dequantize w.q.npy --params w.json -o w.dq.npy
  quantkit dequantize model.int8.safetensors -o model.restored.safetensors`,
      )
      .action(async (input: string, raw: Record<string, unknown>) => {
        const opts = parseDequantizeOptions(raw);
        checkArrayCommandOutputs(input, opts);
        if (isSafetensorsPath(input)) {
          if (opts.params !== undefined) throw new UsageError('--params applies to .npy input: a quantized safetensors file carries its parameters');
          await runSafetensorsDequantize(io, input, opts.output, opts.outDtype ?? 'source');
          return;
        }
        if (opts.params === undefined) throw new UsageError("required option '--params <file>' not specified");
        if (opts.outDtype !== undefined) throw new UsageError('--out-dtype applies to .safetensors input (.npy output is float32)');
        const { params, packedShape } = (await import('../../node/params/params-files.js')).readParamsFile(opts.params);
        const [{ NpyFileReader }, { dequantizeNpyFile }, { chooseRunner }] = await Promise.all([
          import('../../node/npy/npy-file-reader.js'),
          import('../../node/npy/dequantize-npy-file.js'),
          import('../runner-choice.js'),
        ]);
        const reader = NpyFileReader.open(input);
        const runner = await chooseRunner(opts.workers);
        const progress = createProgress(io, 'dequantize', reader.header.dataBytes);
        await withOutputs({ reader, runner, progress }, async (outputs) => {
          await dequantizeNpyFile(reader, outputs.create(opts.output), params, {
            packedShape,
            runner,
            onProgress: (done, total) => progress.update(done, total),
          });
        });
      });
  },
};
