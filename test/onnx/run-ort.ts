import * as ort from 'onnxruntime-node';
import type { ModelProto } from 'onnx-buf';
import { encodeModel } from '../../src/formats/onnx/model.js';

/** Runs a model once in onnxruntime-node on float32 inputs and returns the float32 outputs (test helper). */
export async function runOrt(model: ModelProto | Uint8Array, feeds: Record<string, { dims: number[]; data: Float32Array }>): Promise<Record<string, Float32Array>> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const session = await ort.InferenceSession.create(bytes);
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) inputs[k] = new ort.Tensor('float32', v.data, v.dims);
    const out = await session.run(inputs);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await session.release();
  }
}
