import type { NodeProto, TensorProto } from 'onnx-buf';
import { makeNode } from '../../../formats/onnx/builders.js';
import { makeTensor, readFloat32, readTensor, tensorDims } from '../../../formats/onnx/tensor.js';
import type { DequantizeLinearWeight } from './dequantize-linear-weight.js';

/** ONNX TensorProto.DataType FLOAT, the Cast target. */
const FLOAT = 1;

/** An 8-bit weight written as Cast → (Sub zero point) → Mul scale: what replaces one DequantizeLinear. */
export interface CastMulWeight {
  /** Codes (int8/uint8, the weight's shape), scale and, when some zero point is not 0, the zero points as float32. */
  readonly initializers: TensorProto[];
  readonly nodes: NodeProto[];
}

/**
 * Rewrites a DequantizeLinear weight (per tensor or per axis) as Cast(codes) [− zeroPoint] · scale,
 * with scale and zero point shaped to broadcast along the axis. The value is the same float32 as
 * DequantizeLinear's (q − zp) · scale: q − zp is an exact small integer in float32 either way. Why:
 * onnxruntime never constant-folds DequantizeLinear (it keeps it for QDQ fusions), so a weight behind
 * one is dequantized on every run and the op loses weight prepacking, Conv+BatchNormalization fusion
 * and the NCHWc layout; Cast, Sub and Mul of constants are folded when the session is created, so the
 * op runs its float kernel on the dequantized weight, and the file keeps 8-bit codes.
 * `output` is the name of the dequantized weight; `names(base)` gives fresh names.
 */
export function castMulWeight(q: DequantizeLinearWeight, output: string, names: (base: string) => string, nodeBase: string): CastMulWeight {
  const dims = tensorDims(q.codes);
  const axis = q.attributes.axis;
  const scaleValues = readFloat32(q.scale);
  const zp = readTensor(q.zeroPoint).values as Int8Array | Uint8Array;
  // Per axis: [C] becomes [1, .., C, .., 1] so that it broadcasts along its axis (ONNX broadcasting aligns trailing axes).
  const paramDims = axis === undefined ? [] : dims.map((d, i) => (i === axis ? d : 1));
  const scale = makeTensor(q.scale.name, 'float32', paramDims, scaleValues);
  const initializers: TensorProto[] = [q.codes, scale];
  const nodes: NodeProto[] = [];
  const hasZeroPoint = zp.some((z) => z !== 0);
  const cast = names(`${output}_cast`);
  nodes.push(makeNode('Cast', [q.codes.name], [cast], { name: names(`${nodeBase}_Cast`), attributes: { to: FLOAT } }));
  let centred = cast;
  if (hasZeroPoint) {
    const zpf = makeTensor(q.zeroPoint.name, 'float32', paramDims, Float32Array.from(zp));
    initializers.push(zpf);
    centred = names(`${output}_centred`);
    nodes.push(makeNode('Sub', [cast, zpf.name], [centred], { name: names(`${nodeBase}_Sub`) }));
  }
  nodes.push(makeNode('Mul', [centred, scale.name], [output], { name: names(`${nodeBase}_Mul`) }));
  return { initializers, nodes };
}
