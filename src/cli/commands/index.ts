import type { CliCommand } from '../cli-command.js';

/** A command known by name, its module loaded only when a command line names it. */
export interface CommandEntry {
  readonly name: string;
  /** What the program's help lists for it: the command's arguments, as commander prints them. */
  readonly usage: string;
  /** Its one-line description, the same the module registers (run-cli.test.ts checks they agree). */
  readonly summary: string;
  load(): Promise<CliCommand>;
}

/**
 * Every subcommand, in help order. Adding one is a file in this folder and a line here. Modules
 * load lazily: `quantkit quantize ...` imports the quantize command alone, and `quantkit --help`,
 * `--version` or a mistyped command none at all (the program lists these entries instead), so no
 * command pays for the zod schemas, kernels, observers, ONNX stack or service another one needs.
 */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'quantize',
    usage: '[options] <input>',
    summary: 'quantize a float .npy to integer codes (ONNX QuantizeLinear, PyTorch MinMaxObserver parameters)',
    load: async () => (await import('./quantize.js')).quantizeCommand,
  },
  {
    name: 'dequantize',
    usage: '[options] <input>',
    summary: 'codes back to float32: x = (q - zero_point) * scale (ONNX DequantizeLinear)',
    load: async () => (await import('./dequantize.js')).dequantizeCommand,
  },
  {
    name: 'fake-quant',
    usage: '[options] <input>',
    summary: 'quantize and dequantize in one pass: the float32 values a quantized model would see',
    load: async () => (await import('./fake-quant.js')).fakeQuantCommand,
  },
  {
    name: 'calibrate',
    usage: '[options] <data...>',
    summary: 'choose quantization parameters from calibration data with an observer, and report how well they fit',
    load: async () => (await import('./calibrate.js')).calibrateCommand,
  },
  {
    name: 'inspect',
    usage: '[options] <input>',
    summary: 'shape, dtype, range, a histogram, and the error int8, uint8 and int4 would cost (MSE, SQNR in dB)',
    load: async () => (await import('./inspect.js')).inspectCommand,
  },
  {
    name: 'onnx',
    usage: '',
    summary: 'quantize ONNX models (weight-only, dynamic, static), compare them, and rank layers by sensitivity',
    load: async () => (await import('./onnx.js')).onnxCommand,
  },
  {
    name: 'gguf',
    usage: '',
    summary: "llama.cpp's GGUF models: quantize like llama-quantize (byte for byte), inspect, dequantize",
    load: async () => (await import('./gguf.js')).ggufCommand,
  },
  {
    name: 'serve',
    usage: '[options]',
    summary: 'run the Quantizer REST API (npm start)',
    load: async () => (await import('./serve.js')).serveCommand,
  },
];

/**
 * The entry a command line runs: the command it names (`quantkit help <command>` names the
 * second word), or undefined when it names none (help, version, a typo, no command at all).
 */
export function namedCommand(argv: readonly string[] = []): CommandEntry | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  const first = words[0] === 'help' ? words[1] : words[0];
  return COMMANDS.find((c) => c.name === first);
}

/** The modules a command line needs: the one command it names, or none. */
export async function loadCommands(argv: readonly string[] = []): Promise<CliCommand[]> {
  const named = namedCommand(argv);
  return named ? [await named.load()] : [];
}

/** Every command's module (the tests that walk the whole command tree). */
export async function loadAllCommands(): Promise<CliCommand[]> {
  return Promise.all(COMMANDS.map((c) => c.load()));
}
