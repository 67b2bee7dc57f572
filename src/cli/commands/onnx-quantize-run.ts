import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { CALIBRATED_METHODS, INT4_FORMS, INT8_FORMS, isBlockDtype, OBSERVER_NAMES, QUANTIZE_MODES, QUANTIZED_FORMATS, WEIGHT_DTYPES, WEIGHT_METHODS } from '../../onnx/quantize-choices.js';
import { describeIntegerTypes } from '../../onnx/target.js';
import type { QuantizeOptionsInput } from '../../onnx/quantize-options.js';
import type { OpsetUpgrade } from '../../onnx/graph/opset-upgrade.js';
import type { QuantizeReport } from '../../onnx/quantize-report.js';
import type { StaticQuantizeReport } from '../../onnx/modes/static.js';
import type { CliIo } from '../cli-io.js';
import { UsageError } from '../exit-codes.js';
import { toJson } from '../format-table.js';
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
  floatTargets: onnxFlags.floatTargets,
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
  const wcal = (report as { calibration?: { batches: number; layers: number; passes: number; sequential: boolean; floatTargets?: boolean; observer?: string } }).calibration;
  if (wcal && wcal.observer === undefined) lines.push(`calibration: ${wcal.batches} batches, inputs of ${wcal.layers} layers captured in ${wcal.passes} passes${wcal.sequential ? ` (sequential: each pass on the model with the earlier layers quantized${wcal.floatTargets ? ', the float model beside it' : ''})` : ''}`);
  const cal = (report as Partial<StaticQuantizeReport>).calibration;
  if (cal && cal.observer !== undefined) lines.push(`calibration: ${cal.batches} batches, ${cal.tensors} activations, ${cal.observer}; onnxruntime ${(cal.runtimeMs / 1000).toFixed(2)} s, quantkit ${(cal.observeMs / 1000).toFixed(2)} s${cal.generatedInputs ? ' (GENERATED inputs)' : ''}`);
  for (const w of report.warnings) if (!shown(w)) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}

/** `quantkit onnx quantize` without --auto: flags checked (usage errors first), the model quantized, checked and written. */
export async function runOnnxQuantize(input: string, raw: Record<string, unknown>, io: CliIo): Promise<void> {
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
  const gptqFlag = o.damp !== undefined ? 'damp' : o.actOrder ? 'act-order' : o.floatTargets ? 'float-targets' : undefined;
  if (gptqFlag && method !== 'gptq') throw new UsageError(`--${gptqFlag} applies to --method gptq, got --method ${method}`);
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
    ...(o.floatTargets !== undefined && { floatTargets: o.floatTargets }),
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
