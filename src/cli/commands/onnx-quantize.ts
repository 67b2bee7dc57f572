import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Option } from '../commander.js';
import { z } from 'zod';
import { CALIBRATED_METHODS, INT4_FORMS, INT8_FORMS, isBlockDtype, OBSERVER_NAMES, QUANTIZE_MODES, QUANTIZE_TARGETS, QUANTIZED_FORMATS, WEIGHT_DTYPES, WEIGHT_METHODS } from '../../onnx/quantize-options.js';
import { describeIntegerTypes } from '../../onnx/target.js';
import type { QuantizeOptionsInput } from '../../onnx/quantize-options.js';
import type { OpsetUpgrade } from '../../onnx/graph/opset-upgrade.js';
import type { QuantizeReport } from '../../onnx/quantize-report.js';
import type { StaticQuantizeReport } from '../../onnx/modes/static.js';
import type { CliCommand } from '../cli-command.js';
import type { CliIo } from '../cli-io.js';
import { UsageError } from '../exit-codes.js';
import { toJson } from '../format-table.js';
import { METRIC_FLAG_HELP, METRIC_FLAG_KEYS } from '../metric-flags.js';
import { onnxFlags, warningLine } from '../onnx-flags.js';
import { checkOutputPaths } from '../output-paths.js';
import { createProgress } from '../progress.js';
import { workersFlag } from '../quant-options.js';

const Options = z.object({
  output: z.string().min(1, { error: '-o/--output needs a path' }),
  mode: z.enum(QUANTIZE_MODES),
  dtype: z.enum(WEIGHT_DTYPES).optional(),
  perChannel: z.boolean().optional(),
  target: onnxFlags.target,
  reduceRange: z.boolean().optional(),
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
  method: z.enum(WEIGHT_METHODS).optional(),
  damp: onnxFlags.damp,
  actOrder: z.boolean().optional(),
  raiseOpset: z.boolean().optional(),
  externalData: z.boolean().optional(),
  json: z.boolean().optional(),
  force: z.boolean().optional(),
});

/** `shown`: warnings already printed on stderr (the opset raise), not repeated in the summary. */
function summary(report: QuantizeReport, input: string, output: string, inBytes: number, outBytes: number, ms: number, shown: (warning: string) => boolean): string {
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
  if (report.integer) lines.push(describeIntegerTypes(report.integer));
  if (float.length) {
    lines.push(`left in float (${float.length}):`);
    for (const n of float) lines.push(`  ${n.node} [${n.opType}]: ${n.reason}`);
  }
  const methods = new Map<string, number>();
  for (const n of quantized) if (n.method) methods.set(n.method, (methods.get(n.method) ?? 0) + 1);
  if (methods.size) lines.push(`codes chosen by ${[...methods].map(([m, c]) => `${m} (${c} node${c === 1 ? '' : 's'})`).join(', ')}`);
  const placed = new Map<string, number>();
  for (const n of quantized) if (n.inputScale) placed.set(n.inputScale.applied, (placed.get(n.inputScale.applied) ?? 0) + 1);
  if (placed.size) lines.push(`awq input scales: ${placed.get('folded') ?? 0} folded into the ops producing the input, ${placed.get('Mul') ?? 0} applied by a Mul, ${placed.get('none') ?? 0} all 1 (the report's inputScale says why per node)`);
  const notes = [...new Set(quantized.flatMap((n) => (n.methodNote ? [n.methodNote] : [])))];
  for (const note of notes) lines.push(`note: ${note}`);
  const wcal = (report as { calibration?: { batches: number; layers: number; passes: number; sequential: boolean; observer?: string } }).calibration;
  if (wcal && wcal.observer === undefined) lines.push(`calibration: ${wcal.batches} batches, inputs of ${wcal.layers} layers captured in ${wcal.passes} passes${wcal.sequential ? ' (sequential: each pass on the model with the earlier layers quantized)' : ''}`);
  const cal = (report as Partial<StaticQuantizeReport>).calibration;
  if (cal && cal.observer !== undefined) lines.push(`calibration: ${cal.batches} batches, ${cal.tensors} activations, ${cal.observer}; onnxruntime ${(cal.runtimeMs / 1000).toFixed(2)} s, quantkit ${(cal.observeMs / 1000).toFixed(2)} s${cal.generatedInputs ? ' (GENERATED inputs)' : ''}`);
  for (const w of report.warnings) if (!shown(w)) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}

async function run(input: string, raw: Record<string, unknown>, io: CliIo): Promise<void> {
  const r = Options.safeParse(raw);
  if (!r.success) throw new UsageError(r.error.issues[0]!.message);
  const o = r.data;
  checkOutputPaths({ inputs: [input], outputs: [{ path: o.output, format: 'onnx', flag: '-o' }], force: o.force });
  const method = o.method ?? 'rtn';
  const calibrated = o.mode === 'weight-only' && CALIBRATED_METHODS.includes(method);
  if (o.calibration !== undefined && o.mode !== 'static' && !calibrated) throw new UsageError(`--calibration applies to --mode static and to --method ${CALIBRATED_METHODS.join(', ')}, got --mode ${o.mode}${o.mode === 'weight-only' ? ` --method ${method}` : ''}`);
  const blockDtype = o.dtype !== undefined && isBlockDtype(o.dtype);
  if (o.blockSize !== undefined && !blockDtype && o.int8Form !== 'matmulnbits') throw new UsageError(`--block-size applies to 4-bit dtypes and below (int4, uint4, int3, int2) and --int8-form matmulnbits, got --dtype ${o.dtype ?? (o.mode === 'weight-only' ? 'int8' : `chosen by --target for --mode ${o.mode}`)}`);
  // MatMulInteger, ConvInteger and QLinear ops take 8-bit inputs: only weight-only writes 4 bits.
  if (o.mode !== 'weight-only' && blockDtype) throw new UsageError(`--mode ${o.mode} quantizes to int8 or uint8, got --dtype ${o.dtype} (4-bit weights: --mode weight-only)`);
  if (o.mode !== 'weight-only' && (o.method !== undefined || o.raiseOpset)) throw new UsageError(`--${o.method !== undefined ? 'method' : 'raise-opset'} applies to --mode weight-only, got --mode ${o.mode}`);
  if (method !== 'rtn' && !blockDtype) throw new UsageError(`--method ${method} chooses codes per block of 4 bits or fewer: add --dtype int4, uint4, int3 or int2 (got ${o.dtype ?? 'int8'})`);
  if ((o.damp !== undefined || o.actOrder) && method !== 'gptq') throw new UsageError(`--${o.damp !== undefined ? 'damp' : 'act-order'} applies to --method gptq, got --method ${method}`);
  const workers = workersFlag(raw.workers);
  if (workers !== undefined && !calibrated) throw new UsageError(`--workers applies to --method ${CALIBRATED_METHODS.join(', ')} (layers of one calibration pass are quantized in parallel), got ${o.mode === 'weight-only' ? `--method ${method}` : `--mode ${o.mode}`}`);
  if (o.raiseOpset && !blockDtype) throw new UsageError(`--raise-opset applies to dtypes of 4 bits or fewer (blocked DequantizeLinear needs opset 21), got --dtype ${o.dtype ?? 'int8'}`);
  // Weight-only models run DequantizeLinear and float kernels: no integer kernel for a target to choose.
  if (o.mode === 'weight-only' && o.target !== undefined) throw new UsageError(`--target applies to --mode dynamic and static (integer kernels), got --mode ${o.mode}`);
  if (o.mode === 'weight-only' && o.reduceRange) throw new UsageError(`--reduce-range applies to --mode dynamic and static (integer kernels), got --mode ${o.mode}`);
  const options: QuantizeOptionsInput = {
    mode: o.mode,
    ...(o.dtype !== undefined && { dtype: o.dtype }),
    ...(o.target !== undefined && { target: o.target }),
    ...(o.reduceRange !== undefined && { reduceRange: o.reduceRange }),
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
    ...(o.method !== undefined && { method: o.method }),
    ...(o.damp !== undefined && { damp: o.damp }),
    ...(o.actOrder !== undefined && { actOrder: o.actOrder }),
    ...(o.raiseOpset !== undefined && { raiseOpset: o.raiseOpset }),
  };
  const started = performance.now();
  const inBytes = statSync(input, { throwIfNoEntry: false })?.size ?? 0;
  // Loaded when the command runs: onnx-buf and onnxruntime-node cost ~130 ms that other commands never need.
  const [{ calibrationHooks }, { loadModel, saveModel }, { assertInputModelLoads, assertOutputModelLoads }, { describeOpsetUpgrade }, { quantizeModel }] = await Promise.all([
    import('../../node/onnx/calibration-data.js'),
    import('../../node/onnx/onnx-file.js'),
    import('../../node/onnx/ort-model-check.js'),
    import('../../onnx/graph/opset-upgrade.js'),
    import('../../onnx/quantize-model.js'),
  ]);
  const model = loadModel(input);
  await assertInputModelLoads(input);
  // Static mode runs the model (onnxruntime-node) on the calibration data, or on generated inputs, said loudly.
  const cal = o.mode === 'static' || (calibrated && o.calibration !== undefined) ? calibrationHooks(model, o.calibration) : undefined;
  if (calibrated && o.calibration === undefined && method !== 'search') io.stderr.write(warningLine(`--method ${method} without --calibration DIR: no activations to weigh the error by, so weights are quantized by the calibration-free search`));
  if (cal?.generated) io.stderr.write(warningLine("no --calibration DIR given: calibrating on inputs generated from the model's input specs, not real data"));
  const progress = createProgress(io, 'quantize', inBytes);
  const calibrating = cal ? createProgress(io, 'calibrate', inBytes) : undefined;
  // The layers of one calibration pass are independent: quantized side by side, one worker thread per CPU unless told otherwise.
  const threads = cal && calibrated ? (workers ?? availableParallelism()) : 1;
  const pool = threads > 1 ? (await import('../../node/workers/blocked-weight-pool.js')).BlockedWeightPool.create(threads) : undefined;
  let result;
  try {
    result = await quantizeModel(model, options, {
      ...cal?.hooks,
      ...(pool && { quantizeBlocked: pool.run }),
      onProgress: (e) => (e.phase === 'calibrate' ? calibrating?.update(e.done, e.total) : progress.update(e.done, e.total)),
    });
  } finally {
    calibrating?.stop();
    progress.stop();
    await pool?.close();
  }
  // A model for other CPUs is written as asked, but said loudly when it is wrong on this one.
  if (result.report.integer) {
    const [{ readCpuFeatures }, { targetWarning }] = await Promise.all([import('../../node/onnx/cpu-features.js'), import('../../onnx/target.js')]);
    const w = targetWarning(result.report.integer, readCpuFeatures());
    if (w) io.stderr.write(warningLine(w));
  }
  // Raising the opset rewrites nodes: said on stderr too, whatever the output format.
  const upgrade = (result.report as { opsetUpgrade?: OpsetUpgrade }).opsetUpgrade;
  if (upgrade) io.stderr.write(warningLine(describeOpsetUpgrade(upgrade, `--mode ${o.mode} needs it`)));
  // The report says it too (for --json and library callers): the text summary leaves it to stderr, so it is said once.
  const raised = upgrade ? describeOpsetUpgrade(upgrade, '').split(' (')[0]! : undefined;
  const shown = (w: string) => raised !== undefined && w.startsWith(raised);
  await assertOutputModelLoads(result.model, o.output);
  const written = saveModel(o.output, result.model, { externalData: o.externalData ?? false });
  const outBytes = written.reduce((s, p) => s + statSync(p).size, 0);
  const ms = performance.now() - started;
  if (o.json) io.stdout.write(`${toJson({ input, output: o.output, files: written, inputBytes: inBytes, outputBytes: outBytes, seconds: ms / 1000, report: result.report })}\n`);
  else io.stdout.write(summary(result.report, input, o.output, inBytes, outBytes, ms, shown));
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
      .addOption(new Option('--dtype <dtype>', 'weight type (default: int8 for weight-only; chosen by --target for dynamic and static)').choices(WEIGHT_DTYPES))
      .addOption(new Option('--target <cpu>', 'dynamic/static: the CPUs the integer model must be right on (default portable: every CPU)').choices(QUANTIZE_TARGETS))
      .option('--reduce-range', 'dynamic/static: 7-bit weights, exact on x86 CPUs without VNNI (the default for int8 weights under --target portable)')
      .option('--per-channel', 'one scale per output channel (int8/uint8; default for dynamic and static; 4-bit is always per block)')
      .option('--per-tensor', 'one scale per weight tensor (grouped and depthwise Conv stay per channel)')
      .option('--block-size <n>', 'block size (4 bits and fewer) along the reduction axis: a power of two >= 16 (default 32)')
      .addOption(new Option('--method <method>', 'weight-only, 4 bits and fewer: how codes are chosen (default rtn; see below)').choices(WEIGHT_METHODS))
      .option('--damp <f>', '--method gptq: dampening added to the Hessian diagonal, as a fraction of its mean (default 0.01)')
      .option('--act-order', '--method gptq: quantize input channels in order of decreasing activation energy')
      .option('--raise-opset', '4 bits and fewer: raise an older model to opset 21 so Conv, Gemm and LSTM weights are blocked too (else they stay float)')
      .option('--symmetric', 'symmetric ranges (zero point 0; default for int8/int4)')
      .option('--asymmetric', 'asymmetric ranges (default for uint8/uint4)')
      .addOption(new Option('--observer <name>', 'range observer for static calibration').choices(OBSERVER_NAMES))
      .option('--calibration <dir>', 'static mode and --method gptq|awq|search: .npy files named after the model inputs')
      .option('--workers <n>', '--method gptq|awq|search with --calibration: worker threads quantizing the layers of a calibration pass side by side (default: one per CPU; the model is the same)')
      .option('--op-types <list>', 'comma-separated op types to quantize (default for weight-only: MatMul,Gemm,Conv,LSTM,GRU,RNN)')
      .option('--exclude <node...>', 'node names to leave in float')
      .addOption(new Option('--format <format>', 'quantized graph form where both exist').choices(QUANTIZED_FORMATS))
      .addOption(new Option('--int4-form <form>', '4-bit MatMul as com.microsoft MatMulNBits (fastest in onnxruntime) or opset-21 DequantizeLinear').choices(INT4_FORMS))
      .addOption(new Option('--int8-form <form>', 'weight-only 8-bit weights as Cast+Mul (onnxruntime folds it at load: float speed), DequantizeLinear (QDQ, for runtimes that fuse it) or MatMulNBits for MatMul (faster than float, int8 activations per block)').choices(INT8_FORMS))
      .option('--quantize-bias', 'quantize biases too (default: biases stay float)')
      .option('--external-data', 'write initializers of 1 KiB or more to OUTPUT.data (needed above 2 GB)')
      .option('--json', 'print the report as JSON')
      .option('--force', 'let -o replace the input model')
      .option('--auto', 'pick int4/int8/float per layer: the smallest weight-only model within --max-error')
      .option('--max-error <e>', 'with --auto: bound on --metric (default: max relative RMS error over outputs, e.g. 0.01)')
      .option('--inputs <dir>', 'with --auto: .npy files named after the model inputs to measure the error on')
      .option(METRIC_FLAG_HELP[0][0], `with --auto: ${METRIC_FLAG_HELP[0][1]}`)
      .option(METRIC_FLAG_HELP[1][0], `with --auto: ${METRIC_FLAG_HELP[1][1]}`)
      .option(METRIC_FLAG_HELP[2][0], `with --auto: ${METRIC_FLAG_HELP[2][1]}`)
      .option(METRIC_FLAG_HELP[3][0], `with --auto: ${METRIC_FLAG_HELP[3][1]}`)
      .addHelpText(
        'after',
        `
Every node with a weight is listed: quantized, or left in float with the reason (op type not
chosen, weights computed at run time, unsupported types, shapes or opsets, excluded nodes).

Weight-only methods (--method, with --dtype int4, uint4, int3 or int2; blocks of --block-size):
  rtn     round to nearest on a min/max grid per block. Default; fast; fine at 8 and 4 bits for
          most layers.
  hqq     half-quadratic fit of each block's scale and zero point; no data needed. Pick it when
          you have no representative inputs: better than rtn at 4 and 3 bits. Refused at int2
          (its refit clips 4-level blocks so hard that deep networks' outputs collapse).
  search  per-block scale/clip search; with --calibration it weighs each input channel by its
          mean x^2 (llama.cpp's importance matrix), without it every channel counts the same.
  awq     activation-aware: input channels that carry large activations get larger scales
          (a Mul by 1/s is inserted before the op). Needs --calibration; protects outlier
          channels, the usual failure of rtn on transformers.
  gptq    minimises each layer's output error on the calibration inputs (Hessian of the inputs,
          error feedback within each row); layers are calibrated in order on the model whose
          earlier layers are already quantized. Needs --calibration; the most accurate at 4, 3
          and 2 bits, and the slowest (seconds per layer on large layers).
  With a calibrated method but no --calibration, weights are quantized by search instead (said
  on stderr). 3-bit codes are stored in 4-bit containers; 2-bit codes as 2-bit MatMulNBits for
  MatMul, else in 4-bit containers (int2 DequantizeLinear needs opset 25).

Integer models (--mode dynamic, static) are right on every CPU by default (--target portable):
uint8 activations x uint8 weights, which onnxruntime sums exactly everywhere. uint8 x int8
kernels pair products in a saturating int16 on x86 CPUs without VNNI; --target x86-vnni or arm64
writes those (ONNX Runtime's own defaults) and warns when this CPU is not one of them.

Examples:
  quantkit onnx quantize model.onnx -o model.int8.onnx --per-channel
  quantkit onnx quantize model.onnx -o model.q4.onnx --dtype int4 --block-size 32
  quantkit onnx quantize model.onnx -o model.static.onnx --mode static --calibration cal/
  quantkit onnx quantize model.onnx -o model.q4.onnx --dtype int4 --method gptq --calibration cal/ --raise-opset
  quantkit onnx quantize model.onnx -o model.q3.onnx --dtype int3 --method hqq
  quantkit onnx quantize model.onnx -o model.auto.onnx --auto --max-error 0.01 --inputs inputs/`,
      )
      .action(async (input: string, raw: Record<string, unknown>) => {
        if (raw.symmetric && raw.asymmetric) throw new UsageError('--symmetric and --asymmetric contradict each other');
        if (raw.perChannel && raw.perTensor) throw new UsageError('--per-channel and --per-tensor contradict each other');
        const { asymmetric, perTensor, ...rest } = raw;
        if (perTensor) rest.perChannel = false;
        if (raw.auto) return (await import('./onnx-auto-quantize.js')).runAutoQuantize(input, asymmetric ? { ...rest, symmetric: false } : rest, io);
        if (raw.maxError !== undefined || raw.inputs !== undefined) throw new UsageError('--max-error and --inputs apply to --auto');
        if (METRIC_FLAG_KEYS.some((k) => raw[k] !== undefined)) throw new UsageError('--metric, --blank, --labels and --metric-output apply to --auto');
        await run(input, asymmetric ? { ...rest, symmetric: false } : rest, io);
      });
  },
};
