import type { ModelProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { createRng } from '../../core/random.js';
import type { OnnxDtype } from '../../formats/onnx/onnx-dtypes.js';
import { ONNX_DTYPES, onnxDtypeOf } from '../../formats/onnx/onnx-dtypes.js';
import type { TensorValues } from '../../formats/onnx/tensor.js';
import type { TensorMap } from '../run-model.js';

/** A model input a caller must feed: name, element type, and dims (a string is symbolic, null unknown). */
export interface InputSpec {
  readonly name: string;
  readonly dtype: OnnxDtype;
  readonly dims: readonly (number | string | null)[];
}

/**
 * The inputs a run of the model needs: graph inputs that are not initializers (an initializer
 * listed as an input has a default and need not be fed). Non-tensor inputs (sequences, maps) are
 * UNSUPPORTED: quantkit cannot make or read calibration data for them.
 */
export function modelInputSpecs(model: ModelProto): InputSpec[] {
  const g = model.graph!;
  const inits = new Set(g.initializer.map((t) => t.name));
  const out: InputSpec[] = [];
  for (const v of g.input) {
    if (inits.has(v.name)) continue;
    const t = v.type?.value;
    if (t?.case !== 'tensorType') {
      throw new QuantError('UNSUPPORTED', `model input '${v.name}' is ${t?.case ?? 'untyped'}: expected a tensor input`);
    }
    const dims = (t.value.shape?.dim ?? []).map((d) =>
      d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : null,
    );
    out.push({ name: v.name, dtype: onnxDtypeOf(t.value.elemType), dims });
  }
  return out;
}

export interface GeneratedInputsOptions {
  /** Batches produced; default 8. */
  readonly batches?: number;
  /** Seed of the uniform generator; default 0. */
  readonly seed?: number;
}

/**
 * Calibration batches made from the input specs alone, for when the user gives no data: symbolic
 * or unknown dims are 1; floats are uniform in [-1, 1), integers 0, booleans false (integer inputs
 * are usually indices or lengths, where 0 is always valid). Deterministic for a seed. Ranges from
 * such data say little about real activations: callers must say so loudly.
 */
export function generateCalibrationInputs(specs: readonly InputSpec[], options: GeneratedInputsOptions = {}): TensorMap[] {
  const batches = options.batches ?? 8;
  const rng = createRng(options.seed ?? 0);
  const out: TensorMap[] = [];
  for (let b = 0; b < batches; b++) {
    // Keyed by the model's input names: null-prototype, so "__proto__" or "toString" is an ordinary name.
    const feed = Object.create(null) as TensorMap;
    for (const s of specs) {
      const dims = s.dims.map((d) => (typeof d === 'number' ? d : 1));
      const n = dims.reduce((a, d) => a * d, 1);
      const kind = ONNX_DTYPES[s.dtype].array;
      let values: TensorValues;
      if (s.dtype === 'float32' || s.dtype === 'float64') {
        const v = s.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
        for (let i = 0; i < n; i++) v[i] = rng() * 2 - 1;
        values = v;
      } else if (kind === 'BigInt64Array') values = new BigInt64Array(n);
      else if (kind === 'BigUint64Array') values = new BigUint64Array(n);
      else if (s.dtype === 'int8' || s.dtype === 'uint8' || s.dtype === 'int16' || s.dtype === 'uint16' || s.dtype === 'int32' || s.dtype === 'uint32' || s.dtype === 'bool') {
        const Ctor = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, bool: Uint8Array }[s.dtype];
        values = new Ctor(n);
      } else {
        throw new QuantError('UNSUPPORTED', `model input '${s.name}' is ${s.dtype}: cannot generate calibration data for it, give --calibration`);
      }
      feed[s.name] = { name: s.name, dtype: s.dtype, dims, values };
    }
    out.push(feed);
  }
  return out;
}
