import { z } from 'zod';
import type { QuantDtypeName } from '../../core/dtypes.js';
import { getQuantDtype } from '../../core/dtypes.js';
import type { Granularity } from '../../core/layout.js';
import { OutputSet } from '../../node/fs/atomic-file.js';
import { calibrateNpyFiles } from '../../node/npy/calibrate-npy-files.js';
import { NpyFileReader } from '../../node/npy/npy-file-reader.js';
import type { CliCommand } from '../cli-command.js';
import { UsageError } from '../exit-codes.js';
import { calibrationJson, formatCalibration, LISTED_PARAMETERS } from '../format-calibration.js';
import { toJson } from '../format-table.js';
import { writeParamsOut } from '../params-out.js';
import { createProgress } from '../progress.js';
import type { CliObserver } from '../quant-options.js';
import { addObserverOptions, dtypeSchema, granularityOf, parseObserverOptions, schemeFlags } from '../quant-options.js';
import { checkOutputPaths } from '../output-paths.js';

/** calibrate's options, validated once. */
interface CalibrateCliOptions {
  readonly dtype: QuantDtypeName;
  readonly symmetric: boolean;
  readonly narrow: boolean;
  readonly granularity: Granularity;
  readonly paramsOut: string;
  readonly json: boolean;
  readonly observer: CliObserver;
  readonly force: boolean;
}

/** The dtype calibrate chooses parameters for when --dtype is not given (the Quantizer's default, INT8). */
export const CALIBRATE_DEFAULT_DTYPE: QuantDtypeName = 'int8';

const RawSchema = z.object({
  dtype: dtypeSchema.default(CALIBRATE_DEFAULT_DTYPE),
  ...schemeFlags,
  paramsOut: z.string().min(1, { error: '--params-out needs a path' }),
  json: z.boolean().default(false),
  force: z.boolean().default(false),
});

function parseCalibrateOptions(raw: Record<string, unknown>): CalibrateCliOptions {
  const r = RawSchema.safeParse(raw);
  if (!r.success) throw new UsageError(r.error.issues[0].message);
  const o = r.data;
  if (o.narrow && !getQuantDtype(o.dtype).signed) throw new UsageError(`--narrow applies to signed dtypes, got ${o.dtype}`);
  const granularity = granularityOf(o.axis, o.blockSize);
  const observer = parseObserverOptions(raw, { granularity });
  return { dtype: o.dtype, symmetric: o.symmetric, narrow: o.narrow, granularity, paramsOut: o.paramsOut, json: o.json, observer, force: o.force };
}

export const calibrateCommand: CliCommand = {
  name: 'calibrate',
  register(program, io) {
    const cmd = program
      .command('calibrate')
      .description('choose quantization parameters from calibration data with an observer, and report how well they fit')
      .argument('<data...>', 'calibration batches: .npy files of one rank (and, per channel, one channel count)')
      .requiredOption('--params-out <file>', 'write the parameters (for `quantkit quantize --params`): .json, or .safetensors for a compact binary file')
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
  quantkit calibrate act1.npy act2.npy --observer percentile --percentile 99.9 --dtype uint8 --params-out act.json
  quantkit quantize act3.npy -o act3.q.npy --params act.json
  quantkit calibrate w.npy --observer mse --dtype int8 --symmetric --axis 0 --params-out w.json --json`,
    );
    cmd.action(async (files: string[], raw: Record<string, unknown>) => {
      const opts = parseCalibrateOptions(raw);
      checkOutputPaths({ inputs: files, outputs: [{ path: opts.paramsOut, format: 'params', flag: '--params-out' }], force: opts.force });
      const readers = openAll(files);
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
        const outputs = new OutputSet();
        try {
          note = writeParamsOut(outputs, opts.paramsOut, report.params);
          outputs.commit();
        } catch (e) {
          outputs.abort();
          throw e;
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
function openAll(files: readonly string[]): NpyFileReader[] {
  const readers: NpyFileReader[] = [];
  try {
    for (const f of files) readers.push(NpyFileReader.open(f));
    return readers;
  } catch (e) {
    for (const r of readers) r.close();
    throw e;
  }
}
