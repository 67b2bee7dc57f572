import { create } from '@bufbuild/protobuf';
import type { NodeProto, TensorProto } from 'onnx-buf';
import { TensorProtoSchema } from 'onnx-buf';
import { findAttribute } from '../../formats/onnx/attributes.js';
import { makeTensor } from '../../formats/onnx/tensor.js';

/**
 * The tensor a Constant node produces, named after its output: `value` as is, the scalar and
 * list forms (value_float, value_floats, value_int, value_ints) as float32/int64 tensors. A
 * sparse or string value gives undefined (not a weight quantkit quantizes).
 */
export function constantNodeTensor(node: NodeProto): TensorProto | undefined {
  const name = node.output[0] ?? '';
  const value = findAttribute(node, 'value');
  if (value?.t) return create(TensorProtoSchema, { ...value.t, name });
  const f = findAttribute(node, 'value_float');
  if (f) return makeTensor(name, 'float32', [], new Float32Array([f.f]));
  const fs = findAttribute(node, 'value_floats');
  if (fs) return makeTensor(name, 'float32', [fs.floats.length], new Float32Array(fs.floats));
  const i = findAttribute(node, 'value_int');
  if (i) return makeTensor(name, 'int64', [], new BigInt64Array([i.i]));
  const is = findAttribute(node, 'value_ints');
  if (is) return makeTensor(name, 'int64', [is.ints.length], new BigInt64Array(is.ints));
  return undefined;
}
