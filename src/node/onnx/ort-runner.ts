import * as ort from 'onnxruntime-node';
import { QuantError } from '../../core/errors.js';
import type { OnnxDtype } from '../../formats/onnx/onnx-dtypes.js';
import type { TensorData, TensorValues } from '../../formats/onnx/tensor.js';
import type { RunModel, TensorMap } from '../../onnx/run-model.js';

/** onnxruntime's tensor type names for the dtypes a feed or fetch can have. */
const ORT_TYPES: Partial<Record<OnnxDtype, ort.Tensor.Type>> = {
  float32: 'float32',
  float64: 'float64',
  int8: 'int8',
  uint8: 'uint8',
  int16: 'int16',
  uint16: 'uint16',
  int32: 'int32',
  uint32: 'uint32',
  int64: 'int64',
  uint64: 'uint64',
  bool: 'bool',
  float16: 'float16',
};

const FROM_ORT = new Map<string, OnnxDtype>(Object.entries(ORT_TYPES).map(([k, v]) => [v, k as OnnxDtype]));

/** Wall time spent inside onnxruntime (session creation and runs), for calibration reports. */
export interface OrtTiming {
  /** Milliseconds in InferenceSession.create and release. */
  sessionMs: number;
  /** Milliseconds inside session.run. */
  runMs: number;
  runs: number;
}

function toOrt(t: TensorData): ort.Tensor {
  const type = ORT_TYPES[t.dtype];
  if (!type) throw new QuantError('UNSUPPORTED', `input '${t.name}' is ${t.dtype}: onnxruntime feeds of this type are not supported here`);
  return new ort.Tensor(type, t.values as ort.Tensor.DataTypeMap[typeof type], t.dims);
}

function fromOrt(name: string, t: ort.Tensor): TensorData {
  const dtype = FROM_ORT.get(t.type);
  if (!dtype) throw new QuantError('UNSUPPORTED', `output '${name}' is ${t.type}: expected a numeric tensor`);
  return { name, dtype, dims: t.dims.map(Number), values: t.data as TensorValues };
}

/**
 * A RunModel backed by onnxruntime-node: one InferenceSession per call, built from the model's
 * bytes, run once per batch; each batch's outputs are handed to `onOutputs` and dropped before the
 * next batch, and the session is released at the end (also on error). `timing`, when given,
 * accumulates the time spent inside onnxruntime so callers can report it beside their own.
 *
 * Never give it a model with an opset-21 int4/uint4 QuantizeLinear: onnxruntime-node 1.30 aborts
 * the whole process on one (run such checks in a child process).
 */
export function createOrtRunner(timing?: OrtTiming): RunModel {
  return async (model, batches, onOutputs, outputNames) => {
    let t0 = performance.now();
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new QuantError('UNSUPPORTED', `onnxruntime cannot load the model: ${why}`, { cause: e });
    } finally {
      if (timing) timing.sessionMs += performance.now() - t0;
    }
    try {
      const fetches = outputNames ? [...outputNames] : [...session.outputNames];
      // onnxruntime-node collects results into an ordinary object, where this name sets the prototype:
      // the tensor would come back missing, so say why instead.
      if (fetches.includes('__proto__')) throw new QuantError('UNSUPPORTED', "onnxruntime-node cannot return a tensor named '__proto__' (its results are keyed by name on an ordinary object): rename it in the model");
      let index = 0;
      for await (const batch of batches) {
        // Own keys only: `in` would find "toString" or "constructor" on any object's prototype.
        const missing = session.inputNames.filter((n) => !Object.prototype.hasOwnProperty.call(batch, n));
        if (missing.length) {
          throw new QuantError('INVALID_ARGUMENT', `batch ${index} has no value for model input${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}: expected ${session.inputNames.join(', ')}`);
        }
        const feeds = Object.create(null) as Record<string, ort.Tensor>;
        for (const n of session.inputNames) feeds[n] = toOrt(batch[n]!);
        t0 = performance.now();
        let out: ort.InferenceSession.ReturnType;
        try {
          out = await session.run(feeds, fetches);
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          throw new QuantError('INVALID_ARGUMENT', `onnxruntime failed on batch ${index}: ${why}`, { cause: e });
        } finally {
          if (timing) {
            timing.runMs += performance.now() - t0;
            timing.runs++;
          }
        }
        const outputs = Object.create(null) as TensorMap;
        for (const n of fetches) outputs[n] = fromOrt(n, out[n]!);
        try {
          await onOutputs(outputs, index);
        } finally {
          for (const t of Object.values(out)) t.dispose();
        }
        index++;
      }
    } finally {
      t0 = performance.now();
      await session.release();
      if (timing) timing.sessionMs += performance.now() - t0;
    }
  };
}
