import type { ModelProto } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { generateCalibrationInputs, modelInputSpecs } from '../../onnx/calibration/calibration-inputs.js';
import type { BatchSource } from '../../onnx/analysis/compare-models.js';
import type { TensorMap } from '../../onnx/run-model.js';
import { readCalibrationDir } from './calibration-data.js';

/** Inputs a comparison, sensitivity or automatic-precision run feeds both models. */
export interface ComparisonBatches {
  /** A fresh pass over the batches on every call. */
  readonly source: BatchSource;
  readonly batches: number;
  /** The directory, or 'generated' when made from the input specs. */
  readonly label: string;
  /** The first batch (latency is timed on it). */
  first(): Promise<TensorMap>;
}

/**
 * The batches of `dir` read as calibration data is (readCalibrationDir: NAME.npy stacked along
 * the batch axis, or NAME_0.npy, NAME_1.npy, … one file per batch, checked against the input
 * specs), or without a directory one batch generated from the input specs (uniform in [-1, 1),
 * seed 0) whose label says so, for callers to warn.
 */
export function comparisonBatches(model: ModelProto, dir?: string): ComparisonBatches {
  if (dir === undefined) {
    const batches = generateCalibrationInputs(modelInputSpecs(model), { batches: 1 });
    return { source: () => batches, batches: 1, label: 'generated', first: async () => batches[0]! };
  }
  const data = readCalibrationDir(dir, model);
  if (data.batches === 0) throw new QuantError('EMPTY_INPUT', `inputs directory '${dir}' holds no batches`);
  return {
    source: data.read,
    batches: data.batches,
    label: dir,
    async first() {
      for await (const b of data.read()) return b;
      throw new QuantError('EMPTY_INPUT', `inputs directory '${dir}' holds no batches`);
    },
  };
}
