import { getQuantDtype } from '../../core/dtypes.js';
import type { CliCommand } from '../cli-command.js';
import { UsageError } from '../exit-codes.js';
import { createProgress } from '../progress.js';
import { addObserverOptions, addQuantOptions, addSelectionOptions, fileQuantizeOptions, parseQuantCommand } from '../quant-options.js';
import { checkArrayCommandOutputs } from '../output-paths.js';
import { handledAsSafetensors } from '../safetensors-run.js';
import { withOutputs } from '../run-outputs.js';
import { switchFlag } from '../flag-values.js';
import type { NpyFileQuantizeResult } from '../../node/npy/quantize-npy-file.js';

export const quantizeCommand: CliCommand = {
  name: 'quantize',
  register(program, io) {
    const cmd = program
      .command('quantize')
      .description('quantize a float .npy to integer codes (ONNX QuantizeLinear, PyTorch MinMaxObserver parameters)')
      .argument('<input>', 'input .npy (any real dtype, either byte order, C or Fortran order) or .safetensors');
    addSelectionOptions(addObserverOptions(addQuantOptions(cmd, true)))
      .option('--quiet', 'no summary line on stderr after a .npy is quantized')
      .addHelpText(
      'after',
      `
A .npy run ends with one line on stderr: the input's shape and dtype, the codes' dtype and scheme,
the range of the scales and zero points, and the time taken (--quiet drops it).

Codes keep the input's shape, in the smallest integer dtype holding them (int8/uint8 up to 8 bits,
int16/uint16 above). With --pack, 2- and 4-bit codes are written as a flat uint8 array of
ceil(n*bits/8) bytes, packed along the flattened C order, low bits first (as ONNX stores int4/int2),
and --params-out adds "packed": true and "tensor_shape" (the original shape) so that
\`quantkit dequantize\` can unpack them. --params-out w.json writes JSON text; w.safetensors a
binary file (scale and zero_point tensors, the scheme in its metadata), far smaller for per-block
parameters. --params reads either.

--observer chooses the range as calibrate does (on this file alone): minmax (default), moving-average
(one batch: the same as minmax), percentile (--percentile p clips both tails), mse (PyTorch's
HistogramObserver search) or entropy (KL divergence, as TensorRT); not with --block-size.

A .safetensors input (a model's weights) gives a .safetensors output: each chosen float tensor W
(F32, F16, BF16, F64; by default those of rank 2 or more, or --include/--exclude by name) becomes
its codes W, its parameters W.scale (F32) and W.zero_point (I32) and an entry in the metadata; the
other tensors are copied unchanged. Each tensor gets its own parameters, with the same options.
\`quantkit dequantize\` restores the floats.

Examples:
  quantkit quantize w.npy -o w.q.npy --dtype int8 --symmetric --axis 0 --params-out w.json
  quantkit quantize model.safetensors -o model.int8.safetensors --dtype int8 --symmetric --axis 0 --exclude 'embed|norm' 
  quantkit quantize w.npy -o w.q4.npy --dtype int4 --block-size 32 --pack --params-out w4.safetensors
  quantkit quantize x2.npy -o x2.q.npy --params w.json
  quantkit quantize act.npy -o act.q.npy --dtype uint8 --observer percentile --percentile 99.9`,
    );
    cmd.action(async (input: string, raw: Record<string, unknown>) => {
      const started = performance.now();
      const cli = parseQuantCommand(raw);
      checkArrayCommandOutputs(input, cli.opts);
      if (await handledAsSafetensors(io, input, 'quantize', cli)) return;
      const { opts, observer } = cli;
      const given = opts.params !== undefined ? (await import('../../node/params/params-files.js')).readParamsFile(opts.params).params : undefined;
      if (given && opts.pack && getQuantDtype(given.dtype).perByte === 0) {
        throw new UsageError(`--pack applies to 2- and 4-bit dtypes, the parameters are ${given.dtype}`);
      }
      const [{ NpyFileReader }, { quantizeNpyFile }, { chooseRunner }] = await Promise.all([
        import('../../node/npy/npy-file-reader.js'),
        import('../../node/npy/quantize-npy-file.js'),
        import('../runner-choice.js'),
      ]);
      const reader = NpyFileReader.open(input);
      const runner = await chooseRunner(opts.workers);
      const progress = createProgress(io, 'quantize', reader.header.dataBytes);
      let result: NpyFileQuantizeResult | undefined;
      const note = await withOutputs({ reader, runner, progress }, async (outputs) => {
        const codes = outputs.create(opts.output);
        result = await quantizeNpyFile(reader, codes, {
          ...fileQuantizeOptions(opts, given),
          observer: observer.choice,
          pack: opts.pack,
          runner,
          onProgress: (done, total) => progress.update(done, total),
        });
        return opts.paramsOut === undefined ? undefined : (await import('../params-out.js')).writeParamsOut(outputs, opts.paramsOut, result.params, result.packed ? result.shape : undefined);
      });
      if (note) io.stderr.write(note);
      if (result && !switchFlag(raw.quiet)) {
        const { formatQuantizeSummary } = await import('../format-quantize-summary.js');
        const seconds = (performance.now() - started) / 1000;
        io.stderr.write(formatQuantizeSummary({ input, output: opts.output, shape: result.shape, inputDtype: reader.header.dtype, params: result.params, packed: result.packed, seconds }));
      }
    });
  },
};
