import type { CliCommand } from '../cli-command.js';
import { ggufDequantizeCommand } from './gguf-dequantize.js';
import { ggufInspectCommand } from './gguf-inspect.js';
import { ggufQuantizeCommand } from './gguf-quantize.js';

/** The subcommands of `quantkit gguf`, in help order. */
export const GGUF_SUBCOMMANDS: readonly CliCommand[] = [ggufQuantizeCommand, ggufInspectCommand, ggufDequantizeCommand];

/** `quantkit gguf <subcommand>`: llama.cpp model files. */
export const ggufCommand: CliCommand = {
  name: 'gguf',
  register(program, io) {
    const group = program
      .command('gguf')
      .description("llama.cpp's GGUF models: quantize like llama-quantize (byte for byte), inspect, dequantize")
      .addHelpText(
        'after',
        `
Examples:
  quantkit gguf inspect model.f16.gguf
  quantkit gguf quantize model.f16.gguf -o model.Q4_K_M.gguf --type Q4_K_M
  quantkit gguf dequantize model.Q8_0.gguf -o model.f16.gguf --type F16`,
      );
    group.exitOverride();
    for (const c of GGUF_SUBCOMMANDS) c.register(group, io);
  },
};
