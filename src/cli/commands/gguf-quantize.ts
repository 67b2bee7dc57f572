import type { CliCommand } from '../cli-command.js';
import { LLAMA_MIX_NAMES } from '../../formats/gguf/llama-mixes.js';
import type { GgufQuantizeRaw } from './gguf-quantize-run.js';

// The options and help alone: ggml's quantizers load when the command runs.
export const ggufQuantizeCommand: CliCommand = {
  name: 'quantize',
  register(group, io) {
    group
      .command('quantize')
      .description("quantize a GGUF model to one of llama.cpp's mixes, byte for byte what llama-quantize writes")
      .argument('<model>', 'input .gguf (F32, F16 or BF16 weights)')
      .requiredOption('-o, --output <path>', 'output .gguf (written atomically)')
      .requiredOption('--type <mix>', `llama.cpp's mix, any case (per-tensor types chosen by its rules): ${LLAMA_MIX_NAMES.join(', ')}`)
      .option('--imatrix <file>', 'importance matrix from llama-imatrix (GGUF or legacy .dat)')
      .option('--leave-output-tensor', 'leave output.weight as it is')
      .option('--pure', "every quantized tensor gets the mix's own type: no per-tensor rules")
      .option('--output-tensor-type <type>', 'ggml type for output.weight')
      .option('--token-embedding-type <type>', 'ggml type for token_embd.weight')
      .option('--allow-requantize', 'let already quantized tensors be dequantized and quantized again')
      .option('--json', 'print the report as JSON')
      .option('--force', 'let -o replace the input')
      .addHelpText(
        'after',
        `
The mixes are llama.cpp's: Q4_K_M gives attn_v and half the ffn_down layers Q6_K and the rest
Q4_K, output.weight Q6_K; norms and other 1-D tensors stay F32; a tensor whose rows are not whole
blocks of its type takes llama.cpp's fallback (Q4_K -> Q5_0, Q6_K -> Q8_0, ... or F16).

Examples:
  quantkit gguf quantize model.f16.gguf -o model.Q4_K_M.gguf --type Q4_K_M
  quantkit gguf quantize model.f16.gguf -o model.IQ4_XS.gguf --type IQ4_XS --imatrix imatrix.gguf`,
      )
      .action(async (input: string, raw: GgufQuantizeRaw) => (await import('./gguf-quantize-run.js')).runGgufQuantize(input, raw, io));
  },
};
