import type { CliIo } from '../../src/cli/cli-io.js';
import { onnxCommand } from '../../src/cli/commands/onnx.js';
import { EXIT, exitCodeFor, formatError } from '../../src/cli/exit-codes.js';
import { buildProgram } from '../../src/cli/run-cli.js';

/** Runs `quantkit <args>` in-process with the onnx group only, as runCli does (one error line, exit status). */
export async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => ((stderr += s), true), isTTY: false }, env: {} } as unknown as CliIo;
  try {
    await buildProgram(io, [onnxCommand]).parseAsync(args, { from: 'user' });
    return { code: EXIT.OK, stdout, stderr };
  } catch (e) {
    return { code: exitCodeFor(e), stdout, stderr: stderr + formatError(e, false) };
  }
}
