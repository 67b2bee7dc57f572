import type { CliCommand } from '../cli-command.js';
import { ONNX_SUBCOMMANDS } from './onnx-subcommands.js';

/** `quantkit onnx <subcommand>`: model-level tools; the subcommands come from ONNX_SUBCOMMANDS. */
export function createOnnxCommand(subcommands: readonly CliCommand[] = ONNX_SUBCOMMANDS): CliCommand {
  return {
    name: 'onnx',
    register(program, io) {
      const group = program
        .command('onnx')
        .description('quantize ONNX models (weight-only, dynamic, static), compare them, and rank layers by sensitivity')
        .addHelpText(
          'after',
          `
Examples:
  quantkit onnx quantize model.onnx -o model.int8.onnx --per-channel
  quantkit onnx compare model.onnx model.int8.onnx --inputs inputs/
  quantkit onnx quantize --help`,
        );
      group.exitOverride();
      const seen = new Set<string>();
      for (const c of subcommands) {
        if (seen.has(c.name)) throw new Error(`two 'onnx' subcommands are named '${c.name}'`);
        seen.add(c.name);
        c.register(group, io);
      }
    },
  };
}

export const onnxCommand: CliCommand = createOnnxCommand();
