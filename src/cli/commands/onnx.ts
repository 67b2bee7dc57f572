import type { CliCommand } from '../cli-command.js';
import { ONNX_SUBCOMMANDS } from './onnx-subcommands.js';

/** `quantkit onnx <subcommand>`: model-level tools; the subcommands come from ONNX_SUBCOMMANDS. */
export function createOnnxCommand(subcommands: readonly CliCommand[] = ONNX_SUBCOMMANDS): CliCommand {
  return {
    name: 'onnx',
    register(program, io) {
      const group = program.command('onnx').description('quantize and inspect ONNX models (weight-only, dynamic, static)');
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
