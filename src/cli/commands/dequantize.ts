import { z } from 'zod';
import { dequantizeNpyFile } from '../../node/dequantize-npy-file.js';
import { NpyFileReader } from '../../node/npy-file-reader.js';
import type { CliCommand } from '../cli-command.js';
import { UsageError } from '../exit-codes.js';
import { readParamsJson } from '../params-json.js';
import { createProgress } from '../progress.js';
import { workersFlag } from '../quant-options.js';
import { chooseRunner } from '../runner-choice.js';
import { withOutputs } from '../run-outputs.js';

const Options = z.object({
  output: z.string().min(1, { error: '-o/--output needs a path' }),
  params: z.string().min(1, { error: '--params needs a path' }),
  workers: workersFlag,
});

export const dequantizeCommand: CliCommand = {
  name: 'dequantize',
  register(program, io) {
    program
      .command('dequantize')
      .description('codes back to float32: x = (q - zero_point) * scale (ONNX DequantizeLinear)')
      .argument('<input>', 'codes .npy, as quantize writes them')
      .requiredOption('--params <file>', 'the parameters JSON quantize wrote (--params-out)')
      .requiredOption('-o, --output <path>', 'output float32 .npy')
      .option('--workers <n>', 'worker threads for the kernels (default 1: streaming a file is I/O-bound, see bench/cli.bench.mjs)')
      .addHelpText(
        'after',
        `
Unpacked codes must be int8/uint8 (up to 8 bits) or int16/uint16 (above), of a shape the parameters
fit. Packed codes (quantize --pack) are accepted when the parameters file says "packed": true; its
"tensor_shape" gives the output shape, and the input must be a flat uint8 array of
ceil(n*bits/8) bytes.

Example:
  quantkit dequantize w.q.npy --params w.json -o w.dq.npy`,
      )
      .action(async (input: string, raw: Record<string, unknown>) => {
        const r = Options.safeParse(raw);
        if (!r.success) throw new UsageError(r.error.issues[0].message);
        const opts = r.data;
        const { params, packedShape } = readParamsJson(opts.params);
        const reader = NpyFileReader.open(input);
        const runner = chooseRunner(opts.workers);
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
