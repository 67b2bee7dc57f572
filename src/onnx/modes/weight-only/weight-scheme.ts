import type { NodeProto } from 'onnx-buf';
import type { Granularity } from '../../../core/layout.js';
import { intAttribute } from '../../../formats/onnx/attributes.js';
import type { WeightInputSpec } from '../../graph/op-specs.js';
import { weightAxes } from '../../graph/op-specs.js';
import type { QuantizeOptions, WeightDtype } from '../../quantize-options.js';
import { isSymmetric } from '../../quantize-options.js';

/** How one weight is written. */
export type WeightScheme =
  | {
      readonly form: 'dequantize-linear';
      readonly dtype: WeightDtype;
      readonly symmetric: boolean;
      readonly granularity: Granularity;
      /** '' (ai.onnx) or 'com.microsoft' for models whose opset predates the DequantizeLinear needed. */
      readonly domain: '' | 'com.microsoft';
      /** 7-bit codes (int8 within [−64, 64], uint8 within [0, 127]): see reducedRangeParams. */
      readonly reduceRange: boolean;
      /** The ONNX type holding codes of fewer bits than their type (int3 in int4; int2 in int4 below opset 25, where DequantizeLinear takes no int2). */
      readonly container?: 'int4' | 'int2';
    }
  | { readonly form: 'matmulnbits'; readonly dtype: 'int4' | 'uint4' | 'int8' | 'uint8' | 'int3' | 'int2'; readonly symmetric: boolean; readonly blockSize: number }
  | {
      /** An embedding table [vocab, dim] of a Gather along axis 0, as com.microsoft GatherBlockQuantized: rows stay packed in memory and only the rows looked up are dequantized. */
      readonly form: 'gather-block';
      readonly dtype: 'int4' | 'uint4' | 'int3' | 'int2';
      readonly symmetric: boolean;
      readonly blockSize: number;
    }
  | { readonly form: 'float'; readonly reason: string };

/** A key equal for two weights exactly when they are quantized the same way (so a shared weight is quantized once). */
export function schemeKey(s: WeightScheme): string {
  if (s.form === 'float') return 'float';
  if (s.form === 'matmulnbits') return `nbits:${s.dtype}:${s.symmetric}:${s.blockSize}`;
  if (s.form === 'gather-block') return `gather:${s.dtype}:${s.symmetric}:${s.blockSize}`;
  return `dq:${s.dtype}:${s.symmetric}:${JSON.stringify(s.granularity)}:${s.domain}:${s.reduceRange}:${s.container ?? ''}`;
}

/**
 * Chooses how to write a weight of `dims` feeding input `spec` of `node`:
 * - int8/uint8: per channel along the op's channel axis (perChannel) or per tensor, through
 *   DequantizeLinear. A grouped or depthwise convolution (group > 1) is per channel whatever
 *   perChannel says: its groups see separate inputs and their ranges differ widely, so one scale
 *   for all of them rounds the small groups' weights to zero (the model collapses). Per-axis DequantizeLinear is opset 13 and DequantizeLinear itself opset 10;
 *   an older model gets com.microsoft.DequantizeLinear (axis supported at any opset) rather than a
 *   silently raised opset that could change other ops' meaning.
 * - int4/uint4/int3/int2: per block along the reduction axis: MatMulNBits for a 2-D MatMul weight when the
 *   int4 form is 'matmulnbits'; otherwise opset-21 blocked DequantizeLinear, which needs the model
 *   to be opset 21 or later. A Conv with few input channels per group (depthwise) is per output
 *   channel instead (see convPerChannel).
 */
export function chooseWeightScheme(node: NodeProto, spec: WeightInputSpec, dims: readonly number[], options: QuantizeOptions, opset: number): WeightScheme {
  const symmetric = isSymmetric(options);
  const rank = dims.length;
  if (rank === 0) return { form: 'float', reason: 'the weight is a scalar' };
  const { channelAxis, reductionAxis } = weightAxes(node, spec, rank);
  if (channelAxis < 0 || channelAxis >= rank || reductionAxis < 0 || reductionAxis >= rank) {
    return { form: 'float', reason: `a weight of rank ${rank} does not have the axes ${node.opType} weights have` };
  }
  if (options.dtype === 'int8' || options.dtype === 'uint8') {
    const perChannel = options.perChannel || isGroupedConv(node);
    const granularity: Granularity = perChannel ? { kind: 'per-axis', axis: channelAxis } : { kind: 'per-tensor' };
    const needed = perChannel ? 13 : 10;
    return { form: 'dequantize-linear', dtype: options.dtype, symmetric, granularity, domain: opset >= needed ? '' : 'com.microsoft', reduceRange: options.reduceRange };
  }
  const dtype = options.dtype;
  // The same choice as MatMulNBits: onnxruntime's contrib op where it has one, opset-21 DequantizeLinear when asked.
  if (node.opType === 'Gather' && rank === 2 && intAttribute(node, 'axis', 0) === 0 && options.int4Form === 'matmulnbits') {
    return { form: 'gather-block', dtype, symmetric, blockSize: options.blockSize };
  }
  if (node.opType === 'MatMul' && rank === 2 && options.int4Form === 'matmulnbits') {
    return { form: 'matmulnbits', dtype, symmetric, blockSize: options.blockSize };
  }
  if (opset < 21) {
    return { form: 'float', reason: `4-bit ${node.opType} weights need blocked DequantizeLinear (opset 21), the model is opset ${opset} (raiseOpset / --raise-opset raises it)` };
  }
  // DequantizeLinear reads int2 from opset 25 (onnxruntime 1.30 runs it); 3-bit codes always sit in int4.
  const container = dtype === 'int3' || (dtype === 'int2' && opset < 25) ? 'int4' : dtype === 'int2' ? 'int2' : undefined;
  const tapsAxis = convTapsBlockAxis(node, dims, options.blockSize);
  const granularity: Granularity =
    tapsAxis !== undefined ? { kind: 'per-block', axis: tapsAxis, blockSize: options.blockSize } : convPerChannel(node, dims, options.blockSize) ? { kind: 'per-axis', axis: channelAxis } : { kind: 'per-block', axis: reductionAxis, blockSize: options.blockSize };
  return { form: 'dequantize-linear', dtype, symmetric, granularity, domain: '', reduceRange: false, ...(container && { container }) };
}

/**
 * The kernel axis a 4-bit-or-fewer Conv weight [M, C/group, k...] is blocked along when it has fewer
 * input channels per group than a block and a kernel axis at least a block long (a 1-D filter bank
 * such as an STFT front end, [258, 1, 256]): blocks of `blockSize` taps along the last such axis
 * hold exactly the asked number of weights, where per output channel would put all 256 taps of a
 * filter under one scale and blocks along axis 1 one weight under each. Undefined otherwise. GPTQ
 * chooses its codes on the Hessian of the input's im2col patches over a filter's (channel, tap)
 * columns (quantizeTapsBlockedGptq); the per-input-channel statistics the other methods read are
 * one number per channel here, not per tap.
 */
export function convTapsBlockAxis(node: NodeProto, dims: readonly number[], blockSize: number): number | undefined {
  if (node.opType !== 'Conv' || dims.length < 3 || dims[1]! >= blockSize) return undefined;
  for (let a = dims.length - 1; a >= 2; a--) if (dims[a]! >= blockSize) return a;
  return undefined;
}

/**
 * True when a 4-bit-or-fewer Conv weight [M, C/group, k...] is quantized per output channel (one
 * scale over each filter's C/group · taps weights, per-axis DequantizeLinear along axis 0) rather
 * than in blocks along axis 1. A depthwise Conv has one input channel per group: blocks along axis 1
 * hold one weight each, so every weight gets its own scale (exact, no compression, and error figures
 * that flatter the method). Of the groupings that store fewer scales, per output channel keeps each
 * filter's own range (blocks along axis 0 would share one scale among different filters' taps, whose
 * ranges differ as widely as the int8 reason for per-channel grouped Convs), is what onnxruntime's
 * quantizer writes for per-channel Conv, and needs no reshape in the graph. It is chosen when its
 * group of C/group · taps weights is nearer the asked block size (by ratio) than the axis-1 block of
 * min(C/group, blockSize): C/group < blockSize and (C/group)² · taps < blockSize². Depthwise 3×3 then
 * stores 9 weights per scale, a 3-input 3×3 stem 27; 16 inputs per group at 3×3 keep blocks of 16
 * (144 per scale would be 4.5× coarser than asked, 16 is 2× finer).
 */
export function convPerChannel(node: NodeProto, dims: readonly number[], blockSize: number): boolean {
  if (node.opType !== 'Conv' || dims.length < 3) return false;
  const cin = dims[1]!;
  const taps = dims.slice(2).reduce((a, d) => a * d, 1);
  return cin < blockSize && cin * cin * taps < blockSize * blockSize && cin * taps > 1;
}

/** A Conv or ConvTranspose with group > 1 (depthwise included): per-tensor weights collapse it. */
export function isGroupedConv(node: NodeProto): boolean {
  return (node.opType === 'Conv' || node.opType === 'ConvTranspose') && intAttribute(node, 'group', 1) > 1;
}
