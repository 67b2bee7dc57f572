import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import type { CliIo } from './cli-io.js';
import { EXIT } from './exit-codes.js';
import { COMMANDS, loadAllCommands, loadCommands } from './commands/index.js';
import { buildProgram, runCli } from './run-cli.js';

function memoryIo(): { io: CliIo; out: () => string; err: () => string } {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => ((stderr += s), true), isTTY: false }, env: {} } as unknown as CliIo;
  return { io, out: () => stdout, err: () => stderr };
}

/** Every command path, e.g. ['quantize'], ['onnx'], ['onnx', 'compare'] (commander's own 'help' left out). */
function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.filter((c) => c.name() !== 'help').flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

const paths = commandPaths(buildProgram(memoryIo().io, await loadAllCommands()));

describe('quantkit --help', () => {

  it('covers every command and onnx subcommand', () => {
    expect(paths.map((p) => p.join(' '))).toEqual(['quantize', 'dequantize', 'fake-quant', 'calibrate', 'inspect', 'onnx', 'onnx quantize', 'onnx compare', 'onnx sensitivity', 'gguf', 'gguf quantize', 'gguf inspect', 'gguf dequantize', 'serve']);
  });

  it.each([[[] as string[]], ...paths.map((p) => [p])])('%j --help exits 0 with a usage line and examples on stdout', async (path) => {
    const m = memoryIo();
    expect(await runCli([...path, '--help'], m.io)).toBe(EXIT.OK);
    expect(m.out()).toMatch(new RegExp(`^Usage: quantkit${path.map((p) => ` ${p}`).join('')} `));
    expect(m.out()).toMatch(/\nExamples?:\n {2}(\w+=\S+ )?quantkit /);
    expect(m.err()).toBe('');
  });
});

describe('lazy commands', () => {
  it('loads only the command a command line names, and none otherwise', async () => {
    expect((await loadCommands(['quantize', 'x.npy', '-o', 'y.npy'])).map((c) => c.name)).toEqual(['quantize']);
    expect((await loadCommands(['help', 'onnx'])).map((c) => c.name)).toEqual(['onnx']);
    expect(await loadCommands(['--help'])).toEqual([]);
    expect(await loadCommands(['--version'])).toEqual([]);
    expect(await loadCommands(['quantise'])).toEqual([]);
  });

  it('lists every command in the program help exactly as its module registers it', async () => {
    const listed = buildProgram(memoryIo().io, []).helpInformation();
    expect(listed).toBe(buildProgram(memoryIo().io, await loadAllCommands()).helpInformation());
    expect(COMMANDS.map((c) => c.name)).toEqual((await loadAllCommands()).map((c) => c.name));
  });

  it('prints the version without loading a command', async () => {
    const m = memoryIo();
    expect(await runCli(['--version'], m.io)).toBe(EXIT.OK);
    expect(m.out()).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('still suggests the closest command for a typo', async () => {
    const m = memoryIo();
    expect(await runCli(['quantise', 'x.npy'], m.io)).toBe(EXIT.USAGE);
    expect(m.err()).toMatch(/Did you mean quantize\?/);
  });
});
