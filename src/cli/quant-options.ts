import type { Command } from 'commander';
import { Option } from './commander.js';
import type { QuantDtypeName } from '../core/dtypes.js';
import { getQuantDtype, QUANT_DTYPE_NAMES } from '../core/dtypes.js';
import type { Granularity } from '../core/layout.js';
import type { ObserverChoice } from '../node/npy/observe-npy-file.js';
import type { NpyFileQuantizeOptions } from '../node/npy/quantize-npy-file.js';
import type { QParams } from '../core/qparams.js';
import type { ObserverName } from '../core/observers/observer-catalog.js';
import { DATA_OBSERVER_NAMES } from '../core/observers/observer-catalog.js';
import { UsageError } from './exit-codes.js';
import { boundedIntegerFlag, choiceFlag, integerFlag, numberFlag, pathFlag, switchFlag } from './flag-values.js';

/** The options quantize and fake-quant share, validated once: everything after trusts them. */
export interface QuantCliOptions {
  readonly output: string;
  /** Absent only when `params` is given. */
  readonly dtype?: QuantDtypeName;
  readonly symmetric: boolean;
  readonly narrow: boolean;
  /** Absent when `params` is given (they carry their own). */
  readonly granularity?: Granularity;
  readonly params?: string;
  readonly paramsOut?: string;
  readonly pack: boolean;
  readonly allowInf: boolean;
  readonly rounding: 'half-even' | 'stochastic';
  readonly seed?: number;
  /** Worker threads; undefined = automatic. */
  readonly workers?: number;
  /** -o may replace the input. */
  readonly force: boolean;
}

/** The streamed-file options quantize and fake-quant both pass: the scheme, given parameters, rounding. */
export function fileQuantizeOptions(opts: QuantCliOptions, given: QParams | undefined): NpyFileQuantizeOptions {
  return {
    dtype: opts.dtype,
    symmetric: opts.symmetric,
    narrow: opts.narrow,
    granularity: opts.granularity,
    params: given,
    allowInf: opts.allowInf,
    rounding: opts.rounding,
    seed: opts.seed,
  };
}

/** --dtype: one of the code dtypes. */
export function dtypeFlag(v: unknown): QuantDtypeName | undefined {
  return choiceFlag(v, QUANT_DTYPE_NAMES, (got) => `unknown dtype '${got}': expected one of ${QUANT_DTYPE_NAMES.join(', ')}`);
}

/** --workers: kernel threads, 1..64 (quantize, fake-quant, dequantize). */
export function workersFlag(v: unknown): number | undefined {
  return boundedIntegerFlag('--workers', v, 1, 64);
}

/** The scheme flags quantize, fake-quant and calibrate share. */
export interface SchemeFlags {
  readonly symmetric: boolean;
  readonly narrow: boolean;
  readonly axis?: number;
  readonly blockSize?: number;
}

/** --symmetric, --narrow, --axis and --block-size, checked in that order. */
export function schemeFlags(raw: Record<string, unknown>): SchemeFlags {
  const axis = integerFlag('--axis', raw.axis);
  const blockSize = integerFlag('--block-size', raw.blockSize);
  if (blockSize !== undefined && blockSize <= 0) throw new UsageError(`--block-size must be a positive integer, got ${String(raw.blockSize)}`);
  return { symmetric: switchFlag(raw.symmetric), narrow: switchFlag(raw.narrow), axis, blockSize };
}

/** --axis and --block-size as a granularity: per-block along --axis (default -1), per-axis, or per-tensor. */
export function granularityOf(axis: number | undefined, blockSize: number | undefined): Granularity {
  if (blockSize !== undefined) return { kind: 'per-block', axis: axis ?? -1, blockSize };
  return axis !== undefined ? { kind: 'per-axis', axis } : { kind: 'per-tensor' };
}

/** Registers the shared options on a command (`withPack` for quantize, whose output may be packed). */
export function addQuantOptions(cmd: Command, withPack: boolean): Command {
  cmd
    .requiredOption('-o, --output <path>', 'output .npy')
    .option('--dtype <dtype>', `code dtype: int2..int16 or uint2..uint16`)
    .option('--symmetric', 'symmetric range around 0 (zero point 0 for signed, mid-range for unsigned)')
    .option('--narrow', 'signed only: qmin = -(2^(b-1) - 1)')
    .option('--axis <k>', 'per-channel along axis k (negative counts from the end); with --block-size, the blocked axis')
    .option('--block-size <b>', 'per-block: blocks of b along --axis (default axis -1); the last block may be short')
    .option('--params <file>', 'quantize with these parameters (a params file, .json or .safetensors) instead of computing them')
    .option('--params-out <file>', 'write the parameters used: .json, or .safetensors for a compact binary file');
  if (withPack) cmd.option('--pack', 'write 2- and 4-bit codes packed as ONNX stores them (flat uint8, low bits first)');
  cmd
    .option('--allow-inf', 'let ±Infinity saturate instead of failing (the range is taken over finite values)')
    .addOption(new Option('--rounding <mode>', 'rounding of x / scale').choices(['half-even', 'stochastic']).default('half-even'))
    .option('--seed <n>', 'seed of stochastic rounding (default 0)')
    .option('--workers <n>', 'worker threads for the kernels (default 1: streaming a file is I/O-bound, see bench/cli.bench.mjs)')
    .option('--force', 'let -o replace the input file');
  return cmd;
}

/** Validates commander's raw values into QuantCliOptions; any problem is a UsageError naming the option. */
export function parseQuantOptions(raw: Record<string, unknown>): QuantCliOptions {
  const output = pathFlag(raw.output, '-o/--output needs a path') ?? '';
  const dtype = dtypeFlag(raw.dtype);
  const scheme = schemeFlags(raw);
  const rounding = choiceFlag(raw.rounding, ['half-even', 'stochastic'] as const, (got) => `--rounding must be half-even or stochastic, got '${got}'`) ?? 'half-even';
  const seed = boundedIntegerFlag('--seed', raw.seed, 0, 0xffffffff);
  const o = {
    output,
    dtype,
    ...scheme,
    params: raw.params === undefined ? undefined : String(raw.params),
    paramsOut: raw.paramsOut === undefined ? undefined : String(raw.paramsOut),
    pack: switchFlag(raw.pack),
    allowInf: switchFlag(raw.allowInf),
    rounding,
    seed,
    workers: workersFlag(raw.workers),
    force: switchFlag(raw.force),
  };
  if (o.params !== undefined) {
    const conflicting = (['dtype', 'symmetric', 'narrow', 'axis', 'blockSize'] as const).filter((k) => o[k] !== undefined && o[k] !== false);
    if (conflicting.length > 0) {
      throw new UsageError(`--params carries the dtype, scheme and granularity: drop ${conflicting.map(flagOf).join(', ')}`);
    }
  } else if (o.dtype === undefined) {
    throw new UsageError('--dtype is required (or --params)');
  }
  if (o.dtype !== undefined) {
    const d = getQuantDtype(o.dtype);
    if (o.narrow && !d.signed) throw new UsageError(`--narrow applies to signed dtypes, got ${d.name}`);
    if (o.pack && d.perByte === 0) throw new UsageError(`--pack applies to 2- and 4-bit dtypes (int2, uint2, int4, uint4), got ${d.name}`);
  }
  if (o.seed !== undefined && o.rounding !== 'stochastic') throw new UsageError('--seed applies to --rounding stochastic');
  const granularity = o.params === undefined ? granularityOf(o.axis, o.blockSize) : undefined;
  return {
    output: o.output,
    dtype: o.dtype,
    symmetric: o.symmetric,
    narrow: o.narrow,
    granularity,
    params: o.params,
    paramsOut: o.paramsOut,
    pack: o.pack,
    allowInf: o.allowInf,
    rounding: o.rounding,
    seed: o.seed,
    workers: o.workers,
    force: o.force,
  };
}

function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * The --observer names the CLI offers: every registered observer that needs no options ('mse' is
 * PyTorch's HistogramObserver, the MSE-optimal range search over a histogram; 'entropy' the
 * KL-divergence calibration of TensorRT and ONNX Runtime). The CLI spells them as the registry does.
 */
export const CLI_OBSERVER_NAMES: readonly ObserverName[] = DATA_OBSERVER_NAMES;
export type CliObserverName = ObserverName;

/** --percentile when --observer percentile is given without it: clip 0.01% of each tail. */
export const DEFAULT_PERCENTILE = 99.99;

/** Registers --observer and --percentile (quantize and calibrate). */
export function addObserverOptions(cmd: Command): Command {
  return cmd
    .option('--observer <name>', `how to choose the range: ${CLI_OBSERVER_NAMES.join(', ')} (default minmax)`)
    .option('--percentile <p>', `with --observer percentile: clip below the (100 - p)th and above the pth percentile, 50 < p <= 100 (default ${DEFAULT_PERCENTILE})`);
}

/** The observer a command line asks for. */
export interface CliObserver {
  readonly cliName: CliObserverName;
  readonly choice: ObserverChoice;
}

/**
 * Validates --observer and --percentile against the rest of the command line: per-block
 * parameters are min/max only, and observers other than minmax reject infinities.
 */
export function parseObserverOptions(raw: Record<string, unknown>, context: { granularity?: Granularity; allowInf?: boolean } = {}): CliObserver {
  const observer =
    choiceFlag(raw.observer, CLI_OBSERVER_NAMES, (got) => `unknown observer '${got}': expected one of ${CLI_OBSERVER_NAMES.join(', ')}`) ?? 'minmax';
  const percentile = numberFlag('--percentile', raw.percentile);
  if (percentile !== undefined && !(percentile >= 0 && percentile <= 100)) throw new UsageError(`--percentile must be in [0, 100], got ${String(raw.percentile)}`);
  if (percentile !== undefined && !(percentile > 50)) {
    throw new UsageError(`--percentile clips both tails (below 100 - p, above p) so it must be above 50, got ${String(raw.percentile)}`);
  }
  if (percentile !== undefined && observer !== 'percentile') throw new UsageError(`--percentile applies to --observer percentile, got --observer ${observer}`);
  if (observer !== 'minmax') {
    if (context.granularity?.kind === 'per-block') {
      throw new UsageError(`--observer ${observer} does not support --block-size: per-block ranges are min/max only (use --observer minmax)`);
    }
    if (context.allowInf) throw new UsageError(`--observer ${observer} does not accept infinities: drop --allow-inf or use --observer minmax`);
  }
  const p = percentile ?? DEFAULT_PERCENTILE;
  const options = observer === 'percentile' ? { minPercentile: 100 - p, maxPercentile: p } : {};
  return { cliName: observer, choice: { name: observer, options } };
}

/**
 * --observer and --percentile of a command that may also take --params (quantize, fake-quant):
 * given parameters leave nothing to observe, so both together are a usage error.
 */
export function parseFileObserver(raw: Record<string, unknown>, opts: QuantCliOptions): CliObserver {
  if (opts.params !== undefined && (raw.observer !== undefined || raw.percentile !== undefined)) {
    throw new UsageError('--params carries the parameters: drop --observer and --percentile');
  }
  return parseObserverOptions(raw, { granularity: opts.granularity, allowInf: opts.allowInf });
}

/** Registers --include and --exclude (tensor selection in a .safetensors input). */
export function addSelectionOptions(cmd: Command): Command {
  return cmd
    .option('--include <regex>', 'safetensors: quantize the float tensors whose names match (default: every float tensor of rank 2 or more)')
    .option('--exclude <regex>', 'safetensors: never the tensors whose names match');
}

/** --include / --exclude compiled; a bad pattern is a UsageError naming the flag. */
export function parseSelection(raw: Record<string, unknown>): { include?: RegExp; exclude?: RegExp } {
  const compile = (flag: string, v: unknown): RegExp | undefined => {
    if (v === undefined) return undefined;
    try {
      return new RegExp(String(v));
    } catch (e) {
      throw new UsageError(`--${flag} must be a regular expression: ${(e as Error).message}`);
    }
  };
  return { include: compile('include', raw.include), exclude: compile('exclude', raw.exclude) };
}

/** Everything quantize and fake-quant read from their command line, validated. */
export interface QuantCommandOptions {
  readonly opts: QuantCliOptions;
  readonly observer: CliObserver;
  readonly selection: { include?: RegExp; exclude?: RegExp };
}

export function parseQuantCommand(raw: Record<string, unknown>): QuantCommandOptions {
  const opts = parseQuantOptions(raw);
  return { opts, observer: parseFileObserver(raw, opts), selection: parseSelection(raw) };
}
