import { Option } from '../commander.js';
import { FLOAT_TARGETS_SHARE, INT4_FORMS, INT8_FORMS, OBSERVER_NAMES, QUANTIZE_MODES, QUANTIZE_TARGETS, QUANTIZED_FORMATS, WEIGHT_DTYPES, WEIGHT_METHODS } from '../../onnx/quantize-choices.js';
import type { CliCommand } from '../cli-command.js';
import { UsageError } from '../exit-codes.js';
import { METRIC_FLAG_HELP, METRIC_FLAG_KEYS } from '../metric-flags.js';

// The options and help alone: the flag schema (zod) and the model tools load when the command runs.
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
      .option('--float-targets [share]', `--method gptq: fit each layer partly to the float model's output, not only to its own output on its already quantized inputs (GPTAQ; calibration runs the float model beside); share in (0, 1], default ${FLOAT_TARGETS_SHARE}`)
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
          --float-targets also fits each layer to the float model's output, correcting the
          drift of its inputs that the earlier layers' rounding caused (GPTAQ): calibration
          runs the float model beside, one layer (or the layers of one input) a pass, for
          several times plain gptq's time. It gave the OCR models their lowest error at 4 and
          3 bits, and the VAD calibrated on speech at 4, 3 and 2 bits; pick it when the
          calibration inputs resemble what the model will see (speech for a speech model, not
          synthetic sound), since the correction is fitted to them.
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
        await (await import('./onnx-quantize-run.js')).runOnnxQuantize(input, asymmetric ? { ...rest, symmetric: false } : rest, io);
      });
  },
};
