import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import type { NpyDtype } from '../../formats/npy.js';
import { NPY_DTYPES } from '../../formats/npy.js';
import type { OnnxDtype } from '../../formats/onnx/onnx-dtypes.js';
import type { TensorValues } from '../../formats/onnx/tensor.js';
import type { InputSpec } from '../../onnx/calibration/calibration-inputs.js';
import { modelInputSpecs } from '../../onnx/calibration/calibration-inputs.js';
import type { QuantizeHooks, TensorMap } from '../../onnx/run-model.js';
import { describeFsError } from '../fs/fs-error.js';
import { NpyFileReader } from '../npy/npy-file-reader.js';
import type { OrtTiming } from './ort-runner.js';
import { createOrtRunner } from './ort-runner.js';

/** Samples per run when the model's batch axis is symbolic. */
const SYMBOLIC_BATCH = 16;

/** Where one input's batches come from. */
type InputSource =
  | { readonly kind: 'stacked'; readonly path: string; readonly samples: number; readonly perBatch: number }
  | { readonly kind: 'numbered'; readonly paths: readonly string[] };

/** Calibration data read from a directory: batches come file by file, one batch in memory at a time. */
export interface CalibrationData {
  /** Batches the directory holds. */
  readonly batches: number;
  /** A fresh pass over the batches (QuantizeHooks.calibrationData). */
  readonly read: () => AsyncIterable<TensorMap>;
}

/** The numpy dtypes accepted for an ONNX input type: the same type; floats also from other float widths. */
function acceptedNpy(dtype: OnnxDtype): readonly NpyDtype[] {
  if (dtype === 'float32') return ['float32', 'float64', 'float16'];
  if (dtype === 'bool') return ['bool'];
  return dtype in NPY_DTYPES ? [dtype as NpyDtype] : [];
}

function describeDims(dims: readonly (number | string | null)[]): string {
  return `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** True when `shape` fits `dims` (symbolic and unknown dims match anything). */
function fits(shape: readonly number[], dims: readonly (number | string | null)[]): boolean {
  return shape.length === dims.length && dims.every((d, i) => typeof d !== 'number' || d === shape[i]);
}

function check(spec: InputSpec, path: string, reader: NpyFileReader, shape: readonly number[]): void {
  const ok = acceptedNpy(spec.dtype);
  if (!ok.includes(reader.header.dtype)) {
    throw new QuantError('INVALID_ARGUMENT', `'${path}' holds ${reader.header.dtype}: model input '${spec.name}' is ${spec.dtype}, expected ${ok.join(' or ') || 'a type .npy cannot hold'}`);
  }
  if (!fits(shape, spec.dims)) {
    throw new QuantError('SHAPE_MISMATCH', `'${path}' has shape [${reader.header.shape.join(', ')}]: model input '${spec.name}' expects ${describeDims(spec.dims)}${shape === reader.header.shape ? '' : ' per sample'}`);
  }
}

function open(path: string): NpyFileReader {
  return NpyFileReader.open(path);
}

/** Reads elements [start, start + count) of a file as the input's type. */
function readValues(reader: NpyFileReader, dtype: OnnxDtype, start: number, count: number): TensorValues {
  if (dtype === 'float32') return reader.readFloat32(start, new Float32Array(count));
  const Ctor = NPY_DTYPES[reader.header.dtype].ctor;
  return reader.readNative(start, new Ctor(count)) as TensorValues;
}

/**
 * Calibration data for `model` from `dir`: for each model input NAME, either NAME.npy whose
 * leading axis runs over samples (each batch takes the model's batch size of them, or one sample
 * per batch when the file has one more axis than the input), or NAME_0.npy, NAME_1.npy, … one
 * file per batch. Every input must have the same number of batches. Files are checked up front
 * (dtype, shape against the input spec) and read lazily, one batch at a time. A directory missing
 * an input, or a file of the wrong dtype or shape, is a QuantError naming the file and what the
 * model expects.
 */
export function readCalibrationDir(dir: string, model: ModelProto): CalibrationData {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new QuantError('INVALID_ARGUMENT', `calibration path '${dir}' is not a directory: expected a directory of .npy files named after the model inputs`);
    entries = readdirSync(dir);
  } catch (e) {
    if (e instanceof QuantError) throw e;
    throw new QuantError('IO_ERROR', `cannot read calibration directory '${dir}': ${describeFsError(e)}`, { cause: e });
  }
  const files = new Set(entries.filter((f) => f.endsWith('.npy')));
  const specs = modelInputSpecs(model);
  const sources = new Map<string, InputSource>();
  for (const spec of specs) {
    if (files.has(`${spec.name}.npy`)) {
      const path = join(dir, `${spec.name}.npy`);
      const r = open(path);
      try {
        const shape = r.header.shape;
        const rank = spec.dims.length;
        if (shape.length !== rank && shape.length !== rank + 1) {
          throw new QuantError('SHAPE_MISMATCH', `'${path}' has shape [${shape.join(', ')}]: model input '${spec.name}' expects ${describeDims(spec.dims)}, or one more leading axis of samples`);
        }
        // One more axis than the input: a stack of whole samples, one per run. The same rank: the
        // first axis is the model's batch axis, cut into runs of its size (SYMBOLIC_BATCH when symbolic).
        const stacked = shape.length === rank + 1;
        const fixed = typeof spec.dims[0] === 'number' ? spec.dims[0] : undefined;
        const perBatch = stacked ? 1 : (fixed ?? Math.min(SYMBOLIC_BATCH, shape[0]!));
        check(spec, path, r, stacked ? shape.slice(1) : [fixed ?? shape[0]!, ...shape.slice(1)]);
        const samples = shape[0]!;
        if (samples === 0 || (!stacked && fixed !== undefined && samples % fixed !== 0)) {
          throw new QuantError('SHAPE_MISMATCH', `'${path}' has ${samples} samples along its first axis: expected a positive multiple of the model's batch size ${perBatch}`);
        }
        sources.set(spec.name, { kind: 'stacked', path, samples, perBatch });
      } finally {
        r.close();
      }
      continue;
    }
    const numbered: string[] = [];
    for (let k = 0; files.has(`${spec.name}_${k}.npy`); k++) numbered.push(join(dir, `${spec.name}_${k}.npy`));
    if (numbered.length === 0) {
      throw new QuantError('INVALID_ARGUMENT', `calibration directory '${dir}' has no data for model input '${spec.name}': expected ${spec.name}.npy or ${spec.name}_0.npy, ${spec.name}_1.npy, … (inputs: ${specs.map((s) => s.name).join(', ')})`);
    }
    for (const path of numbered) {
      const r = open(path);
      try {
        check(spec, path, r, r.header.shape);
      } finally {
        r.close();
      }
    }
    sources.set(spec.name, { kind: 'numbered', paths: numbered });
  }
  const count = (s: InputSource): number => (s.kind === 'numbered' ? s.paths.length : Math.ceil(s.samples / s.perBatch));
  const counts = specs.map((s) => count(sources.get(s.name)!));
  if (counts.some((c) => c !== counts[0])) {
    throw new QuantError('SHAPE_MISMATCH', `calibration inputs disagree on the number of batches: ${specs.map((s, i) => `${s.name}: ${counts[i]}`).join(', ')}`);
  }
  const batches = counts[0] ?? 0;
  return {
    batches,
    // The length lets progress bars show a total for the async pass.
    read: () => Object.assign(readBatches(specs, sources, batches), { length: batches }),
  };
}

async function* readBatches(specs: readonly InputSpec[], sources: ReadonlyMap<string, InputSource>, batches: number): AsyncGenerator<TensorMap> {
  const readers = new Map<string, NpyFileReader>();
  try {
    for (let b = 0; b < batches; b++) {
      // Keyed by the model's input names: null-prototype, so "__proto__" or "toString" is an ordinary name.
      const feed = Object.create(null) as TensorMap;
      for (const spec of specs) {
        const s = sources.get(spec.name)!;
        if (s.kind === 'numbered') {
          const r = open(s.paths[b]!);
          try {
            feed[spec.name] = { name: spec.name, dtype: spec.dtype, dims: [...r.header.shape], values: readValues(r, spec.dtype, 0, r.size) };
          } finally {
            r.close();
          }
        } else {
          let r = readers.get(spec.name);
          if (!r) readers.set(spec.name, (r = open(s.path)));
          const shape = r.header.shape;
          const stacked = shape.length === spec.dims.length + 1;
          const inner = shape.slice(1).reduce((a, d) => a * d, 1);
          const take = Math.min(s.perBatch, s.samples - b * s.perBatch);
          const dims = stacked ? shape.slice(1) : [take, ...shape.slice(1)];
          feed[spec.name] = { name: spec.name, dtype: spec.dtype, dims, values: readValues(r, spec.dtype, b * s.perBatch * inner, take * inner) };
        }
      }
      yield feed;
    }
  } finally {
    for (const r of readers.values()) r.close();
  }
}

/**
 * The hooks static and dynamic quantization need from Node: an onnxruntime-node runner, and the
 * calibration batches of `dir` when given. `generated` is true when static calibration will fall
 * back to inputs generated from the model's input specs (callers say so loudly).
 */
export function calibrationHooks(model: ModelProto, dir: string | undefined, timing?: OrtTiming): { hooks: Pick<QuantizeHooks, 'runModel' | 'calibrationData'>; batches: number; generated: boolean } {
  const runModel = createOrtRunner(timing);
  if (dir === undefined) return { hooks: { runModel }, batches: 0, generated: true };
  const data = readCalibrationDir(dir, model);
  return { hooks: { runModel, calibrationData: data.read }, batches: data.batches, generated: false };
}
