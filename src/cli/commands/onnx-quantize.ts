import { statSync } from 'node:fs';
import { Option } from 'commander';
import { z } from 'zod';
import { INT4_FORMS, INT8_FORMS, OBSERVER_NAMES, QUANTIZE_MODES, QUANTIZED_FORMATS, WEIGHT_DTYPES } from '../../onnx/quantize-options.js';
import type { QuantizeOptionsInput } from '../../onnx/quantize-options.js';
import type { OpsetUpgrade } from '../../onnx/opset-upgrade.js';
import type { QuantizeReport } from '../../onnx/quantize-report.js';
import type { StaticQuantizeReport } from '../../onnx/static.js';
import type { CliCommand } from '../cli-command.js';
import type { CliIo } from '../cli-io.js';
import { UsageError } from '../exit-codes.js';
import { toJson } from '../format-table.js';
import { onnxFlags, warningLine } from '../onnx-flags.js';
import { createProgress } from '../progress.js';

const Options = z.object({
  output: z.string().min(1, { error: '-o/--output needs a path' }),
  mode: z.enum(QUANTIZE_MODES),
  dtype: z.enum(WEIGHT_DTYPES),
  perChannel: z.boolean().optional(),
  blockSize: onnxFlags.blockSize,
  symmetric: z.boolean().optional(),
  observer: z.enum(OBSERVER_NAMES).optional(),
  calibration: z.string().min(1).optional(),
  opTypes: onnxFlags.opTypes,
  exclude: onnxFlags.exclude,
  format: z.enum(QUANTIZED_FORMATS).optional(),
  int4Form: z.enum(INT4_FORMS).optional(),
  int8Form: z.enum(INT8_FORMS).optional(),
  quantizeBias: z.boolean().optional(),
  externalData: z.boolean().optional(),
  json: z.boolean().optional(),
});

function summary(report: QuantizeReport, input: string, output: string, inBytes: number, outBytes: number, ms: number): string {
  const quantized = report.nodes.filter((n) => n.status === 'quantized');
  const float = report.nodes.filter((n) => n.status === 'float');
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  const lines = [
    // Counts the nodes the report lists: every node with a weight, and nodes of the chosen op types (quantized or not).
    `${input} -> ${output}: ${report.mode} ${report.dtype}, ${quantized.length} node${quantized.length === 1 ? '' : 's'} quantized, ${float.length} left in float${float.length ? ' (listed below)' : ''}, in ${(ms / 1000).toFixed(2)} s`,
    `model ${mb(inBytes)} -> ${mb(outBytes)}; quantized weights ${mb(report.weightBytesBefore)} -> ${mb(report.weightBytesAfter)}`,
  ];
  const forms = new Map<string, number>();
  for (const n of quantized) {
    const key = `${n.form} ${n.dtype} ${n.granularity}${n.blockSize ? ` (block ${n.blockSize})` : ''}`;
    forms.set(key, (forms.get(key) ?? 0) + 1);
  }
  for (const [k, v] of forms) lines.push(`  ${v} x ${k}`);
  if (float.length) {
    lines.push(`left in float (${float.length}):`);
    for (const n of float) lines.push(`  ${n.node} [${n.opType}]: ${n.reason}`);
  }
  const cal = (report as Partial<StaticQuantizeReport>).calibration;
  if (cal) lines.push(`calibration: ${cal.batches} batches, ${cal.tensors} activations, ${cal.observer}; onnxruntime ${(cal.runtimeMs / 1000).toFixed(2)} s, quantkit ${(cal.observeMs / 1000).toFixed(2)} s${cal.generatedInputs ? ' (GENERATED inputs)' : ''}`);
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}

async function run(input: string, raw: Record<string, unknown>, io: CliIo): Promise<void> {
  const r = Options.safeParse(raw);
  if (!r.success) throw new UsageError(r.error.issues[0]!.message);
  const o = r.data;
  if (o.calibration !== undefined && o.mode !== 'static') throw new UsageError(`--calibration applies to --mode static, got --mode ${o.mode}`);
  if (o.blockSize !== undefined && (o.dtype === 'int8' || o.dtype === 'uint8') && o.int8Form !== 'matmulnbits') throw new UsageError(`--block-size applies to 4-bit dtypes (int4, uint4) and --int8-form matmulnbits, got --dtype ${o.dtype}`);
  // MatMulInteger, ConvInteger and QLinear ops take 8-bit inputs: only weight-only writes 4 bits.
  if (o.mode !== 'weight-only' && (o.dtype === 'int4' || o.dtype === 'uint4')) throw new UsageError(`--mode ${o.mode} quantizes to int8 or uint8, got --dtype ${o.dtype} (4-bit weights: --mode weight-only)`);
  const options: QuantizeOptionsInput = {
    mode: o.mode,
    dtype: o.dtype,
    ...(o.perChannel !== undefined && { perChannel: o.perChannel }),
    ...(o.blockSize !== undefined && { blockSize: o.blockSize }),
    ...(o.symmetric !== undefined && { symmetric: o.symmetric }),
    ...(o.observer !== undefined && { observer: o.observer }),
    ...(o.opTypes !== undefined && { opTypes: o.opTypes }),
    ...(o.exclude !== undefined && { exclude: o.exclude }),
    ...(o.format !== undefined && { format: o.format }),
    ...(o.int4Form !== undefined && { int4Form: o.int4Form }),
    ...(o.int8Form !== undefined && { int8Form: o.int8Form }),
    ...(o.quantizeBias !== undefined && { quantizeBias: o.quantizeBias }),
  };
  const started = performance.now();
  const inBytes = statSync(input, { throwIfNoEntry: false })?.size ?? 0;
  // Loaded when the command runs: onnx-buf and onnxruntime-node cost ~130 ms that other commands never need.
  const [{ calibrationHooks }, { loadModel, saveModel }, { describeOpsetUpgrade }, { quantizeModel }] = await Promise.all([
    import('../../node/calibration-data.js'),
    import('../../node/onnx-file.js'),
    import('../../onnx/opset-upgrade.js'),
    import('../../onnx/quantize-model.js'),
  ]);
  const model = loadModel(input);
  // Static mode runs the model (onnxruntime-node) on the calibration data, or on generated inputs, said loudly.
  const cal = o.mode === 'static' ? calibrationHooks(model, o.calibration) : undefined;
  if (cal?.generated) io.stderr.write(warningLine("no --calibration DIR given: calibrating on inputs generated from the model's input specs, not real data"));
  const progress = createProgress(io, 'quantize', inBytes);
  const calibrating = cal ? createProgress(io, 'calibrate', inBytes) : undefined;
  let result;
  try {
    result = await quantizeModel(model, options, {
      ...cal?.hooks,
      onProgress: (e) => (e.phase === 'calibrate' ? calibrating?.update(e.done, e.total) : progress.update(e.done, e.total)),
    });
  } finally {
    calibrating?.stop();
    progress.stop();
  }
  // Raising the opset rewrites nodes: said on stderr too, whatever the output format.
  const upgrade = (result.report as { opsetUpgrade?: OpsetUpgrade }).opsetUpgrade;
  if (upgrade) io.stderr.write(warningLine(describeOpsetUpgrade(upgrade, `--mode ${o.mode} needs it`)));
  const written = saveModel(o.output, result.model, { externalData: o.externalData ?? false });
  const outBytes = written.reduce((s, p) => s + statSync(p).size, 0);
  const ms = performance.now() - started;
  if (o.json) io.stdout.write(`${toJson({ input, output: o.output, files: written, inputBytes: inBytes, outputBytes: outBytes, seconds: ms / 1000, report: result.report })}\n`);
  else io.stdout.write(summary(result.report, input, o.output, inBytes, outBytes, ms));
}

export const onnxQuantizeCommand: CliCommand = {
  name: 'quantize',
  register(group, io) {
    group
      .command('quantize')
      .description('quantize an ONNX model: weight-only, dynamic or static (calibrated)')
      .argument('<model>', 'input .onnx (external data files are read from its directory)')
      .requiredOption('-o, --output <path>', 'output .onnx (written atomically)')
      .addOption(new Option('--mode <mode>', 'what is quantized').choices(QUANTIZE_MODES).default('weight-only'))
      .addOption(new Option('--dtype <dtype>', 'weight type').choices(WEIGHT_DTYPES).default('int8'))
      .option('--per-channel', 'one scale per output channel (int8/uint8; 4-bit is always per block)')
      .option('--block-size <n>', '4-bit block size along the reduction axis: a power of two >= 16 (default 32)')
      .option('--symmetric', 'symmetric ranges (zero point 0; default for int8/int4)')
      .option('--asymmetric', 'asymmetric ranges (default for uint8/uint4)')
      .addOption(new Option('--observer <name>', 'range observer for static calibration').choices(OBSERVER_NAMES))
      .option('--calibration <dir>', 'static mode: .npy files named after the model inputs')
      .option('--op-types <list>', 'comma-separated op types to quantize (default for weight-only: MatMul,Gemm,Conv,LSTM,GRU,RNN)')
      .option('--exclude <node...>', 'node names to leave in float')
      .addOption(new Option('--format <format>', 'quantized graph form where both exist').choices(QUANTIZED_FORMATS))
      .addOption(new Option('--int4-form <form>', '4-bit MatMul as com.microsoft MatMulNBits (fastest in onnxruntime) or opset-21 DequantizeLinear').choices(INT4_FORMS))
      .addOption(new Option('--int8-form <form>', 'weight-only 8-bit weights as Cast+Mul (onnxruntime folds it at load: float speed), DequantizeLinear (QDQ, for runtimes that fuse it) or MatMulNBits for MatMul (faster than float, int8 activations per block)').choices(INT8_FORMS))
      .option('--quantize-bias', 'quantize biases too (default: biases stay float)')
      .option('--external-data', 'write initializers of 1 KiB or more to OUTPUT.data (needed above 2 GB)')
      .option('--json', 'print the report as JSON')
      .option('--auto', 'pick int4/int8/float per layer: the smallest weight-only model within --max-error')
      .option('--max-error <e>', 'with --auto: bound on the max relative RMS error over outputs, e.g. 0.01')
      .option('--inputs <dir>', 'with --auto: .npy files named after the model inputs to measure the error on')
      .addHelpText(
        'after',
        `
Every node with a weight is listed: quantized, or left in float with the reason (op type not
chosen, weights computed at run time, unsupported types, shapes or opsets, excluded nodes).

Examples:
  quantkit onnx quantize model.onnx -o model.int8.onnx --per-channel
  quantkit onnx quantize model.onnx -o model.q4.onnx --dtype int4 --block-size 32
  quantkit onnx quantize model.onnx -o model.auto.onnx --auto --max-error 0.01 --inputs inputs/`,
      )
      .action(async (input: string, raw: Record<string, unknown>) => {
        if (raw.symmetric && raw.asymmetric) throw new UsageError('--symmetric and --asymmetric contradict each other');
        const { asymmetric, ...rest } = raw;
        if (raw.auto) return (await import('./onnx-auto-quantize.js')).runAutoQuantize(input, asymmetric ? { ...rest, symmetric: false } : rest, io);
        if (raw.maxError !== undefined || raw.inputs !== undefined) throw new UsageError('--max-error and --inputs apply to --auto');
        await run(input, asymmetric ? { ...rest, symmetric: false } : rest, io);
      });
  },
};
