import { readFileSync } from 'node:fs';
import { Command, Help } from './commander.js';
import type { CliIo } from './cli-io.js';
import type { CliCommand } from './cli-command.js';
import { COMMANDS, loadCommands } from './commands/index.js';
import { EXIT, exitCodeFor, formatError } from './exit-codes.js';

/**
 * The program with the given commands registered, and every other command of COMMANDS listed by
 * name, usage and summary without loading its module (enough for the program's help and for
 * suggesting a command after a typo). Errors are thrown (exitOverride), never printed by commander.
 */
export function buildProgram(io: CliIo, commands: readonly CliCommand[]): Command {
  const program = new Command('quantkit')
    .description('Exact, fast quantization with PyTorch/ONNX semantics: .npy tensors, ONNX models, and a REST service')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: () => {},
    })
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      `
Exit status: 0 on success, 2 for a bad command line (unknown option, bad option value),
1 for anything else (missing or malformed file, NaN input, parameters that do not fit).
A failed run leaves no output file behind. Errors are one line on stderr: quantkit: <message>.

Examples:
  quantkit quantize w.npy -o w.q.npy --dtype int8 --symmetric --axis 0 --params-out w.json
  quantkit onnx quantize model.onnx -o model.int8.onnx --per-channel
  quantkit quantize --help`,
    );
  const seen = new Set<string>();
  for (const c of commands) {
    if (seen.has(c.name)) throw new Error(`two CLI commands are named '${c.name}'`);
    seen.add(c.name);
  }
  const listed = new Map<Command, string>();
  for (const entry of COMMANDS) {
    const loaded = commands.find((c) => c.name === entry.name);
    if (loaded) loaded.register(program, io);
    else listed.set(program.command(entry.name).description(entry.summary), [entry.name, entry.usage].filter(Boolean).join(' '));
  }
  for (const c of commands) if (!COMMANDS.some((e) => e.name === c.name)) c.register(program, io);
  if (listed.size > 0) {
    program.configureHelp({
      subcommandTerm: (cmd) => listed.get(cmd) ?? Help.prototype.subcommandTerm.call(new Help(), cmd),
    });
  }
  return program;
}

/** Runs the CLI on argv (without node and the script) and returns the exit status; prints at most one error line. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io, await loadCommands(argv));
  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.OK;
  } catch (e) {
    const code = exitCodeFor(e);
    if (code !== EXIT.OK && !isHelpShown(e)) io.stderr.write(`${formatError(e, io.env.QUANTKIT_DEBUG === '1')}\n`);
    return code;
  }
}

function isHelpShown(e: unknown): boolean {
  return typeof e === 'object' && e !== null && ((e as { code?: string }).code === 'commander.help' || (e as { code?: string }).code === 'commander.helpDisplayed');
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
