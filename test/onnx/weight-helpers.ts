// Helpers the weight-only tests share: initializers by name, nodes by op, an independent
// DequantizeLinear, and array error figures.
import type { ModelProto, NodeProto } from 'onnx-buf';
import { intAttribute } from '../../src/formats/onnx/attributes.js';
import { readFloat32, readTensor } from '../../src/formats/onnx/tensor.js';

/** Largest |a − b| over two equal-length arrays. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
/** Largest |a|. */
export function maxAbs(a: Float32Array): number {
  return a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}
/** The initializer of the main graph named `name` (throws when absent). */
export function init(m: ModelProto, name: string) {
  const t = m.graph!.initializer.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  return t;
}
/** Main-graph nodes of one op type, in order. */
export function nodeOf(m: ModelProto, op: string): NodeProto[] {
  return m.graph!.node.filter((n) => n.opType === op);
}

/** Independent DequantizeLinear for per-axis (axis 0 or 1 of 2-D) and per-tensor parameters. */
export function dequantize2d(m: ModelProto, dq: NodeProto, dims: [number, number]): Float32Array {
  const q = readTensor(init(m, dq.input[0]!)).values as Int8Array;
  const s = readFloat32(init(m, dq.input[1]!));
  const z = readTensor(init(m, dq.input[2]!)).values as Int8Array;
  const axis = intAttribute(dq, 'axis', 1);
  const out = new Float32Array(q.length);
  for (let r = 0; r < dims[0]; r++) {
    for (let c = 0; c < dims[1]; c++) {
      const p = s.length === 1 ? 0 : axis === 0 ? r : c;
      out[r * dims[1] + c] = Math.fround((q[r * dims[1] + c]! - z[p]!) * s[p]!);
    }
  }
  return out;
}
