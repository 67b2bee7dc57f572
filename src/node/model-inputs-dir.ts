import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelProto } from 'onnx-buf';
import { QuantError } from '../core/errors.js';
import { decodeNpy } from '../formats/npy.js';
import type { OnnxDtype } from '../formats/onnx/onnx-dtypes.js';
import type { InputSpec } from '../onnx/calibration-inputs.js';
import { generateCalibrationInputs, modelInputSpecs } from '../onnx/calibration-inputs.js';
import type { TensorMap } from '../onnx/run-model.js';
import { describeFsError } from './fs-error.js';

/**
 * Reads the inputs of one run from a directory of .npy files named after the model inputs
 * (`x.npy` feeds input `x`), as one batch. Each file's dtype must be the input's and its shape
 * must have the input's rank and static dimensions. A missing directory, a missing input file or
 * a mismatch is a QuantError naming the file and what was expected; other files are ignored.
 */
export function readInputsDir(dir: string, model: ModelProto): TensorMap[] {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new QuantError('IO_ERROR', `inputs '${dir}' is not a directory: expected a directory of .npy files named after the model inputs`);
    entries = readdirSync(dir);
  } catch (e) {
    if (e instanceof QuantError) throw e;
    throw new QuantError('IO_ERROR', `cannot read the inputs directory '${dir}': ${describeFsError(e)}`, { cause: e });
  }
  const specs = modelInputSpecs(model);
  const missing = specs.filter((s) => !entries.includes(`${s.name}.npy`));
  if (missing.length) {
    throw new QuantError(
      'INVALID_ARGUMENT',
      `inputs directory '${dir}' has no ${missing.map((s) => `'${s.name}.npy'`).join(', ')}: expected one .npy file per model input (${specs.map((s) => s.name).join(', ')})`,
    );
  }
  const batch: TensorMap = {};
  for (const s of specs) batch[s.name] = readInput(join(dir, `${s.name}.npy`), s);
  return [batch];
}

function readInput(path: string, spec: InputSpec): TensorMap[string] {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new QuantError('IO_ERROR', `cannot read '${path}': ${describeFsError(e)}`, { cause: e });
  }
  let arr;
  try {
    arr = decodeNpy(bytes);
  } catch (e) {
    if (e instanceof QuantError) throw new QuantError(e.code, `'${path}': ${e.message}`, { cause: e });
    throw e;
  }
  if (arr.dtype !== spec.dtype) throw new QuantError('INVALID_ARGUMENT', `'${path}' holds ${arr.dtype}: model input '${spec.name}' expects ${spec.dtype}`);
  const dims = arr.shape;
  const bad = dims.length !== spec.dims.length || spec.dims.some((d, i) => typeof d === 'number' && d !== dims[i]);
  if (bad) {
    const want = spec.dims.map((d) => (typeof d === 'number' ? d : (d ?? '?'))).join(', ');
    throw new QuantError('SHAPE_MISMATCH', `'${path}' has shape [${dims.join(', ')}]: model input '${spec.name}' expects [${want}]`);
  }
  return { name: spec.name, dtype: arr.dtype as OnnxDtype, dims: [...dims], values: arr.data };
}

/**
 * The batches a comparison runs on: those of `inputsDir`, or one batch generated from the model's
 * input specs (uniform in [-1, 1), seed 0) when no directory is given. `source` says which.
 */
export function comparisonBatches(model: ModelProto, inputsDir?: string): { batches: TensorMap[]; source: string } {
  if (inputsDir !== undefined) return { batches: readInputsDir(inputsDir, model), source: inputsDir };
  return { batches: generateCalibrationInputs(modelInputSpecs(model), { batches: 1 }), source: 'generated' };
}
