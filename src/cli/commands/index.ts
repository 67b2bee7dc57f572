import type { CliCommand } from '../cli-command.js';

/** A command known by name, its module loaded only when needed. */
export interface CommandEntry {
  readonly name: string;
  load(): Promise<CliCommand>;
}

/**
 * Every subcommand, in help order. Adding one is a file in this folder and a line here. Modules
 * load lazily: `quantkit quantize ...` imports the quantize command alone, not the observers,
 * calibration reports, ONNX stack or service the other commands need (about 50 ms of start-up).
 */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'quantize', load: async () => (await import('./quantize.js')).quantizeCommand },
  { name: 'dequantize', load: async () => (await import('./dequantize.js')).dequantizeCommand },
  { name: 'fake-quant', load: async () => (await import('./fake-quant.js')).fakeQuantCommand },
  { name: 'calibrate', load: async () => (await import('./calibrate.js')).calibrateCommand },
  { name: 'inspect', load: async () => (await import('./inspect.js')).inspectCommand },
  { name: 'onnx', load: async () => (await import('./onnx.js')).onnxCommand },
  { name: 'serve', load: async () => (await import('./serve.js')).serveCommand },
];

/**
 * The commands a command line needs: the one it names, or all of them (help, a typo that
 * deserves a suggestion, no command at all).
 */
export async function loadCommands(argv: readonly string[] = []): Promise<CliCommand[]> {
  const first = argv.find((a) => !a.startsWith('-'));
  const named = COMMANDS.find((c) => c.name === first);
  return Promise.all((named ? [named] : COMMANDS).map((c) => c.load()));
}
