import type { QuantDtypeName } from '../../core/dtypes.js';
import { getQuantDtype } from '../../core/dtypes.js';
import type { Granularity } from '../../core/layout.js';
import { OutputSet } from '../../node/fs/atomic-file.js';
import type { NpyFileReader } from '../../node/npy/npy-file-reader.js';
import type { CliCommand } from '../cli-command.js';
import { UsageError } from '../exit-codes.js';
import { calibrationJson, formatCalibration, LISTED_PARAMETERS } from '../format-calibration.js';
import { toJson } from '../format-table.js';
import { createProgress } from '../progress.js';
import type { CliObserver } from '../quant-options.js';
import { addObserverOptions, dtypeFlag, granularityOf, parseObserverOptions, schemeFlags } from '../quant-options.js';
import { pathFlag, switchFlag } from '../flag-values.js';
import { checkOutputPaths } from '../output-paths.js';

/** calibrate's options, validated once. */
interface CalibrateCliOptions {
  readonly dtype: QuantDtypeName;
  readonly symmetric: boolean;
  readonly narrow: boolean;
  readonly granularity: Granularity;
  /** Absent: the report alone, no parameters file. */
  readonly paramsOut?: string;
  readonly json: boolean;
  readonly observer: CliObserver;
  readonly force: boolean;
}

/** The dtype calibrate chooses parameters for when --dtype is not given (the Quantizer's default, INT8). */
export const CALIBRATE_DEFAULT_DTYPE: QuantDtypeName = 'int8';

function parseCalibrateOptions(raw: Record<string, unknown>): CalibrateCliOptions {
  const dtype = dtypeFlag(raw.dtype) ?? CALIBRATE_DEFAULT_DTYPE;
  const scheme = schemeFlags(raw);
  const paramsOut = pathFlag(raw.paramsOut, '--params-out needs a path');
  if (scheme.narrow && !getQuantDtype(dtype).signed) throw new UsageError(`--narrow applies to signed dtypes, got ${dtype}`);
  const granularity = granularityOf(scheme.axis, scheme.blockSize);
  const observer = parseObserverOptions(raw, { granularity });
  return { dtype, symmetric: scheme.symmetric, narrow: scheme.narrow, granularity, paramsOut, json: switchFlag(raw.json), observer, force: switchFlag(raw.force) };
}

export const calibrateCommand: CliCommand = {
  name: 'calibrate',
  register(program, io) {
    const cmd = program
      .command('calibrate')
      .description('choose quantization parameters from calibration data with an observer, and report how well they fit')
      .argument('<data...>', 'calibration batches: .npy files of one rank (and, per channel, one channel count)')
      .option('--params-out <file>', 'write the parameters (for `quantkit quantize --params`): .json, or .safetensors for a compact binary file; without it, the report alone')
      .option('--dtype <dtype>', `code dtype: int2..int16 or uint2..uint16 (default ${CALIBRATE_DEFAULT_DTYPE})`)
      .option('--symmetric', 'symmetric range around 0 (zero point 0 for signed, mid-range for unsigned)')
      .option('--narrow', 'signed only: qmin = -(2^(b-1) - 1)')
      .option('--axis <k>', 'per-channel along axis k (negative counts from the end); with --block-size, the blocked axis')
      .option('--block-size <b>', 'per-block: blocks of b along --axis (default axis -1); minmax observer only')
      .option('--json', 'print one JSON object instead of the text report (sqnr_db is null when infinite or undefined)')
      .option('--force', 'let --params-out replace one of the data files');
    addObserverOptions(cmd).addHelpText(
      'after',
      `
Each file is one calibration batch: the observer folds them all in (streamed, chunk by chunk), the
parameters come from its range as observer.qparams gives them, then every batch is quantized with
them to report, per parameter (summarised past ${LISTED_PARAMETERS} channels), the range chosen, scale, zero point,
the fraction of values clipped, MSE and SQNR (dB), and a histogram of the data. Observers:
  minmax          the running min and max (PyTorch MinMaxObserver)
  moving-average  min and max averaged over batches, constant 0.01 (MovingAverageMinMaxObserver)
  percentile      clips at the (100 - p)th and pth percentiles (--percentile p, default 99.99)
  mse             the range minimising the quantization MSE (PyTorch HistogramObserver)
  entropy         the range minimising KL divergence (TensorRT, ONNX Runtime entropy calibration)

Examples:
  quantkit calibrate act.npy --observer entropy --dtype uint8            (the report alone)
  quantkit calibrate act1.npy act2.npy --observer percentile --percentile 99.9 --dtype uint8 --params-out act.json
  quantkit quantize act3.npy -o act3.q.npy --params act.json
  quantkit calibrate w.npy --observer mse --dtype int8 --symmetric --axis 0 --params-out w.json --json`,
    );
    cmd.action(async (files: string[], raw: Record<string, unknown>) => {
      const opts = parseCalibrateOptions(raw);
      if (opts.paramsOut !== undefined) checkOutputPaths({ inputs: files, outputs: [{ path: opts.paramsOut, format: 'params', flag: '--params-out' }], force: opts.force });
      // Loaded when the command runs: `calibrate --help` needs neither the observers nor the kernels.
      const [{ calibrateNpyFiles }, { NpyFileReader }] = await Promise.all([import('../../node/npy/calibrate-npy-files.js'), import('../../node/npy/npy-file-reader.js')]);
      const readers = openAll(files, (f) => NpyFileReader.open(f));
      const progress = createProgress(io, 'calibrate', 2 * readers.reduce((n, r) => n + r.header.dataBytes, 0));
      let text: string;
      let note: string | undefined;
      try {
        const report = await calibrateNpyFiles(readers, {
          observer: opts.observer.choice,
          dtype: opts.dtype,
          symmetric: opts.symmetric,
          narrow: opts.narrow,
          granularity: opts.granularity,
          onProgress: (done, total) => progress.update(done, total),
        });
        const run = { observer: opts.observer, paramsOut: opts.paramsOut };
        // The report is formatted before the parameters are committed, and printed after: a failure leaves neither.
        text = opts.json ? `${toJson(calibrationJson(report, run))}\n` : formatCalibration(report, run);
        if (opts.paramsOut !== undefined) {
          // Loaded here: the params-file encoders (JSON and safetensors) are for --params-out alone.
          const { writeParamsOut } = await import('../params-out.js');
          const outputs = new OutputSet();
          try {
            note = writeParamsOut(outputs, opts.paramsOut, report.params);
            outputs.commit();
          } catch (e) {
            outputs.abort();
            throw e;
          }
        }
      } finally {
        progress.stop();
        for (const r of readers) r.close();
      }
      if (note) io.stderr.write(note);
      io.stdout.write(text);
    });
  },
};

/** Opens every file (checking each is a .npy) before any work, closing those opened if one fails. */
function openAll(files: readonly string[], open: (file: string) => NpyFileReader): NpyFileReader[] {
  const readers: NpyFileReader[] = [];
  try {
    for (const f of files) readers.push(open(f));
    return readers;
  } catch (e) {
    for (const r of readers) r.close();
    throw e;
  }
}
