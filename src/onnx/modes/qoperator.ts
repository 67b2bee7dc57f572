import type { NodeProto, TensorProto } from 'onnx-buf';
import { roundHalfEven } from '../../core/round.js';
import { intAttribute } from '../../formats/onnx/attributes.js';
import { makeNode } from '../../formats/onnx/builders.js';
import { onnxDtypeOf } from '../../formats/onnx/onnx-dtypes.js';
import { makeTensor, readFloat32, tensorDims } from '../../formats/onnx/tensor.js';
import type { GraphIndex, NameGenerator } from '../graph/graph.js';
import { resolveConstant } from '../graph/graph.js';
import type { ActivationQuant } from './qdq-activation.js';

/** A QOperator node replacing a float op whose input, weight and output are all quantized. */
export type QOperatorFusion =
  | {
      readonly ok: true;
      readonly node: NodeProto;
      readonly initializers: TensorProto[];
      /** The weight's DequantizeLinear, no longer read by this node. */
      readonly weightDequantize: NodeProto;
    }
  | { readonly ok: false; readonly reason: string };

const f32 = Math.fround;

/**
 * Fuses DequantizeLinear(x) → MatMul/Conv(·, DequantizeLinear(w)) → QuantizeLinear(y) into
 * QLinearMatMul or QLinearConv (opset 10), as ONNX Runtime's QOperator format writes them:
 *
 *   QLinearMatMul(x_q, x_scale, x_zp, w_q, w_scale, w_zp, y_scale, y_zp) → y_q
 *   QLinearConv(x_q, x_scale, x_zp, w_q, w_scale, w_zp, y_scale, y_zp [, B]) → y_q
 *
 * with B = round(bias / (x_scale · w_scale[m])) as int32 and zero point 0 (the spec's bias).
 * Weights may be per channel: per output channel for QLinearConv, per column ([N]) for a 2-D
 * QLinearMatMul weight. The
 * weight must be the output of a DequantizeLinear of initializers (the weight pass writes those),
 * and a Conv bias a float constant; otherwise the node stays in QDQ form and the reason is given.
 */
export function fuseQOperator(root: GraphIndex, node: NodeProto, acts: ReadonlyMap<string, ActivationQuant>, ir: number, names: NameGenerator): QOperatorFusion {
  const op = node.opType;
  if (op !== 'MatMul' && op !== 'Conv') return { ok: false, reason: `${op} has no QLinear form in the ai.onnx domain` };
  const x = acts.get(node.input[0] ?? '');
  const y = acts.get(node.output[0] ?? '');
  if (!x || !y) return { ok: false, reason: 'its input or output activation is not calibrated' };
  const dq = root.producers.get(node.input[1] ?? '');
  if (!dq || dq.opType !== 'DequantizeLinear') return { ok: false, reason: 'its weight is not quantized' };
  const [codes, scale, zp] = [dq.input[0], dq.input[1], dq.input[2]].map((n) => (n ? root.initializers.get(n) : undefined));
  if (!codes || !scale || !zp) return { ok: false, reason: 'its weight DequantizeLinear does not read initializers' };
  const wScale = readFloat32(scale);
  // QLinearMatMul takes per-column weights ([N] scale and zero point) for a 2-D weight only.
  const wDims = tensorDims(codes);
  if (op === 'MatMul' && wScale.length !== 1 && (wDims.length !== 2 || wScale.length !== wDims[1] || intAttribute(dq, 'axis', 1) !== 1)) {
    return { ok: false, reason: 'QLinearMatMul takes per-column weights of a 2-D weight only' };
  }
  if (onnxDtypeOf(codes.dataType) !== 'int8' && onnxDtypeOf(codes.dataType) !== 'uint8') return { ok: false, reason: 'QLinear ops take 8-bit weights' };
  const inputs = [x.quantized, x.scale, x.zeroPoint, codes.name, scale.name, zp.name, y.scale, y.zeroPoint];
  const initializers: TensorProto[] = [];
  if (op === 'Conv' && node.input[2]) {
    const b = resolveConstant(root, node.input[2], ir);
    if (!b || onnxDtypeOf(b.tensor.dataType) !== 'float32') return { ok: false, reason: `its bias '${node.input[2]}' is not a float32 constant` };
    const bias = readFloat32(b.tensor);
    const q = new Int32Array(bias.length);
    for (let m = 0; m < bias.length; m++) {
      const s = f32(x.scaleValue * wScale[wScale.length === 1 ? 0 : m]!);
      const v = roundHalfEven(f32(bias[m]! / s));
      q[m] = Math.max(-2147483648, Math.min(2147483647, v));
    }
    const t = makeTensor(names.next(`${node.input[2]}_quantized`), 'int32', tensorDims(b.tensor), q);
    initializers.push(t);
    inputs.push(t.name);
  }
  const fused = makeNode(op === 'Conv' ? 'QLinearConv' : 'QLinearMatMul', inputs, [y.quantized], { name: names.next(`${node.name || op}_quant`) });
  if (op === 'Conv') fused.attribute = [...node.attribute];
  return { ok: true, node: fused, initializers, weightDequantize: dq };
}
