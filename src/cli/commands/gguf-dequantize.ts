import { Option } from '../commander.js';
import type { CliCommand } from '../cli-command.js';
import { toJson } from '../format-table.js';
import { checkOutputPaths } from '../output-paths.js';
import { createProgress } from '../progress.js';

const TARGETS = ['F32', 'F16', 'BF16'] as const;

export const ggufDequantizeCommand: CliCommand = {
  name: 'dequantize',
  register(group, io) {
    group
      .command('dequantize')
      .description('write a GGUF model with every quantized tensor decoded to F32, F16 or BF16')
      .argument('<model>', 'input .gguf')
      .requiredOption('-o, --output <path>', 'output .gguf (written atomically)')
      .addOption(new Option('--type <type>', 'float type of the output').choices(TARGETS).default('F16'))
      .option('--json', 'print the tensors written as JSON')
      .option('--force', 'let -o replace the input')
      .addHelpText(
        'after',
        `
Integer tensors are copied; every other tensor is decoded as ggml's dequantize_row_* does.

Examples:
  quantkit gguf dequantize model.Q4_K_M.gguf -o model.f16.gguf
  quantkit gguf dequantize model.Q8_0.gguf -o model.f32.gguf --type F32`,
      )
      .action(async (input: string, o: { output: string; type: (typeof TARGETS)[number]; json?: boolean; force?: boolean }) => {
        checkOutputPaths({ inputs: [input], outputs: [{ path: o.output, format: 'gguf', flag: '-o' }], force: o.force });
        const [{ dequantizeGgufFile }, { statSync }] = await Promise.all([import('../../node/gguf/dequantize-gguf-file.js'), import('node:fs')]);
        const progress = createProgress(io, 'dequantize', statSync(input, { throwIfNoEntry: false })?.size ?? 0);
        let tensors;
        try {
          tensors = dequantizeGgufFile(input, o.output, o.type, (done, total) => progress.update(done, total));
        } finally {
          progress.stop();
        }
        const bytes = tensors.reduce((s, t) => s + t.bytesAfter, 0);
        if (o.json) io.stdout.write(`${toJson({ input, output: o.output, type: o.type, tensors })}\n`);
        else io.stdout.write(`${input} -> ${o.output}: ${tensors.filter((t) => t.from !== t.to).length} of ${tensors.length} tensors decoded to ${o.type}, ${(bytes / 1e6).toFixed(2)} MB of tensors\n`);
      });
  },
};
