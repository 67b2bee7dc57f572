import * as ort from 'onnxruntime-node';
import type { ModelProto } from 'onnx-buf';
import { makeValueInfo } from '../../src/formats/onnx/builders.js';
import { decodeModel, encodeModel } from '../../src/formats/onnx/model.js';
import { createOrtRunner } from '../../src/node/onnx/ort-runner.js';
import type { TensorMap } from '../../src/onnx/run-model.js';
export { relRms } from '../helpers/rel-rms.js';

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

const runner = createOrtRunner();

/** Every output of one onnxruntime run of `m`, plus the float32 tensors named in `extra` (added as graph outputs). */
export async function outputsWith(m: ModelProto, feeds: TensorMap, extra: readonly string[] = []): Promise<TensorMap> {
  const c = decodeModel(encodeModel(m));
  for (const n of extra) if (!c.graph!.output.some((o) => o.name === n)) c.graph!.output.push(makeValueInfo(n, 'float32'));
  let out: TensorMap = {};
  await runner(encodeModel(c), [feeds], (o) => {
    out = o;
  });
  return out;
}

