import type { CliCommand } from '../cli-command.js';
import { createProgress } from '../progress.js';
import { addObserverOptions, addQuantOptions, addSelectionOptions, fileQuantizeOptions, parseQuantCommand } from '../quant-options.js';
import { checkArrayCommandOutputs } from '../output-paths.js';
import { handledAsSafetensors } from '../safetensors-run.js';
import { withOutputs } from '../run-outputs.js';

export const fakeQuantCommand: CliCommand = {
  name: 'fake-quant',
  register(program, io) {
    const cmd = program
      .command('fake-quant')
      .description('quantize and dequantize in one pass: the float32 values a quantized model would see')
      .argument('<input>', 'input .npy or .safetensors');
    addSelectionOptions(addObserverOptions(addQuantOptions(cmd, false))).addHelpText(
      'after',
      `
The output is float32 of the input's shape. Options are those of quantize except --pack
(--observer too: see \`quantkit quantize --help\`). A .safetensors input gives a .safetensors output
with the chosen tensors fake-quantized in their own float type and everything else unchanged.

Examples:
  quantkit fake-quant act.npy -o act.fq.npy --dtype uint8 --params-out act.json
  quantkit fake-quant act.npy -o act.fq.npy --dtype uint8 --observer percentile --percentile 99.9`,
    );
    cmd.action(async (input: string, raw: Record<string, unknown>) => {
      const cli = parseQuantCommand(raw);
      checkArrayCommandOutputs(input, cli.opts);
      if (await handledAsSafetensors(io, input, 'fake-quant', cli)) return;
      const { opts, observer } = cli;
      const given = opts.params !== undefined ? (await import('../../node/params/params-files.js')).readParamsFile(opts.params).params : undefined;
      const [{ NpyFileReader }, { fakeQuantizeNpyFile }, { chooseRunner }] = await Promise.all([
        import('../../node/npy/npy-file-reader.js'),
        import('../../node/npy/quantize-npy-file.js'),
        import('../runner-choice.js'),
      ]);
      const reader = NpyFileReader.open(input);
      const runner = await chooseRunner(opts.workers);
      const progress = createProgress(io, 'fake-quant', reader.header.dataBytes);
      const note = await withOutputs({ reader, runner, progress }, async (outputs) => {
        const values = outputs.create(opts.output);
        const result = await fakeQuantizeNpyFile(reader, values, {
          ...fileQuantizeOptions(opts, given),
          observer: observer.choice,
          runner,
          onProgress: (done, total) => progress.update(done, total),
        });
        return opts.paramsOut === undefined ? undefined : (await import('../params-out.js')).writeParamsOut(outputs, opts.paramsOut, result.params);
      });
      if (note) io.stderr.write(note);
    });
  },
};
