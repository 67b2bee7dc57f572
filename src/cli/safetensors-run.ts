import type { Granularity } from '../core/layout.js';
import { OutputSet } from '../node/fs/atomic-file.js';
import type { SafetensorsFileReader } from '../node/safetensors/safetensors-file.js';
import type { SafetensorsQuantizeResult, SafetensorsSelection } from '../node/safetensors/safetensors-quantize.js';
import type { SourceFloatDtype } from '../formats/quantized-safetensors.js';
import type { CliIo } from './cli-io.js';
import { UsageError } from './exit-codes.js';
import { createProgress } from './progress.js';
import type { QuantCliOptions, QuantCommandOptions } from './quant-options.js';

/** Whether a path names a safetensors file (by its extension: the format has no magic number). */
export function isSafetensorsPath(path: string): boolean {
  return /\.safetensors$/i.test(path);
}

/**
 * The options that mean something for one .npy array only are usage errors with a safetensors file,
 * where each tensor gets its own parameters (stored in the output file itself).
 */
export function checkSafetensorsFlags(opts: QuantCliOptions): void {
  if (opts.params !== undefined) throw new UsageError('--params applies to .npy input: each tensor of a safetensors file gets its own parameters');
  if (opts.paramsOut !== undefined) throw new UsageError('--params-out applies to .npy input: a quantized safetensors file stores its parameters itself (W.scale, W.zero_point and its metadata)');
  if (opts.workers !== undefined && opts.workers > 1) throw new UsageError('--workers applies to .npy input (safetensors tensors are quantized one at a time, in memory)');
}

/** --include / --exclude only select tensors of a safetensors file. */
function checkNpyFlags(selection: SafetensorsSelection): void {
  if (selection.include || selection.exclude) throw new UsageError('--include and --exclude select tensors of a .safetensors input');
}

function describeScheme(dtype: string, granularity: Granularity | undefined): string {
  const g = granularity ?? { kind: 'per-tensor' };
  return `${dtype} ${g.kind === 'per-tensor' ? 'per tensor' : g.kind === 'per-axis' ? `per channel (axis ${g.axis})` : `per block of ${g.blockSize} (axis ${g.axis})`}`;
}

function summary(verb: string, scheme: string, r: SafetensorsQuantizeResult, inBytes: number, outBytes: number): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(b < 1e7 ? 2 : 1)} MB`;
  return `${verb} ${r.quantized.length} tensor(s)${scheme ? ` to ${scheme}` : ''}, kept ${r.kept.length} unchanged: ${mb(inBytes)} -> ${mb(outBytes)}\n`;
}

async function run(
  io: CliIo,
  input: string,
  output: string,
  label: string,
  work: (reader: SafetensorsFileReader, sink: { write(b: Uint8Array): void }, onProgress: (done: number, total: number) => void) => SafetensorsQuantizeResult,
): Promise<{ result: SafetensorsQuantizeResult; inBytes: number; outBytes: number }> {
  const { SafetensorsFileReader } = await import('../node/safetensors/safetensors-file.js');
  const reader = SafetensorsFileReader.open(input);
  const outputs = new OutputSet();
  const progress = createProgress(io, label, reader.fileSize);
  try {
    const file = outputs.create(output);
    const result = work(reader, file, (done, total) => progress.update(done, total));
    const outBytes = file.size;
    outputs.commit();
    return { result, inBytes: reader.fileSize, outBytes };
  } catch (e) {
    outputs.abort();
    throw e;
  } finally {
    progress.stop();
    reader.close();
  }
}

/**
 * quantize or fake-quant of a .safetensors input, with a one-line summary on stdout: true when the
 * input was one (done), false for a .npy input, which the command handles (after refusing the
 * safetensors-only flags).
 */
export async function handledAsSafetensors(io: CliIo, input: string, mode: 'quantize' | 'fake-quant', cli: QuantCommandOptions): Promise<boolean> {
  if (!isSafetensorsPath(input)) {
    checkNpyFlags(cli.selection);
    return false;
  }
  await runSafetensorsQuantize(io, input, mode, cli);
  return true;
}

async function runSafetensorsQuantize(io: CliIo, input: string, mode: 'quantize' | 'fake-quant', cli: QuantCommandOptions): Promise<void> {
  const { opts } = cli;
  checkSafetensorsFlags(opts);
  // Loaded here, not at start-up: a .npy run never needs the safetensors stack or the observers it pulls in.
  const { fakeQuantizeSafetensorsFile, quantizeSafetensorsFile } = await import('../node/safetensors/safetensors-quantize.js');
  const options = {
    dtype: opts.dtype!,
    symmetric: opts.symmetric,
    narrow: opts.narrow,
    granularity: opts.granularity,
    allowInf: opts.allowInf,
    observer: cli.observer.choice,
    rounding: opts.rounding,
    seed: opts.seed,
    include: cli.selection.include,
    exclude: cli.selection.exclude,
  };
  const { result, inBytes, outBytes } = await run(io, input, opts.output, mode, (reader, sink, onProgress) =>
    mode === 'quantize' ? quantizeSafetensorsFile(reader, sink, { ...options, pack: opts.pack, onProgress }) : fakeQuantizeSafetensorsFile(reader, sink, { ...options, onProgress }),
  );
  io.stdout.write(summary(mode === 'quantize' ? 'quantized' : 'fake-quantized', describeScheme(opts.dtype!, opts.granularity), result, inBytes, outBytes));
}

/** dequantize of a .safetensors file quantize wrote. */
export async function runSafetensorsDequantize(io: CliIo, input: string, output: string, outDtype: 'source' | SourceFloatDtype): Promise<void> {
  const { dequantizeSafetensorsFile } = await import('../node/safetensors/safetensors-quantize.js');
  const { result, inBytes, outBytes } = await run(io, input, output, 'dequantize', (reader, sink, onProgress) => dequantizeSafetensorsFile(reader, sink, { outDtype, onProgress }));
  io.stdout.write(summary('restored', '', result, inBytes, outBytes));
}
