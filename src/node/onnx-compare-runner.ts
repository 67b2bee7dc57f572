import { statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { QuantError } from '../core/errors.js';
import { encodeModel } from '../formats/onnx/model.js';
import type { ModelComparison } from '../onnx/compare-models.js';
import type { MetricInput } from '../onnx/metrics/metric-options.js';
import { checkComparable, compareModels } from '../onnx/compare-models.js';
import type { TensorMap } from '../onnx/run-model.js';
import { comparisonBatches } from './comparison-batches.js';
import { loadModel } from './onnx-file.js';
import { createOrtRunner } from './ort-runner.js';

export interface LatencyOptions {
  /** Runs before timing starts (session warm-up, allocations). Default 2. */
  readonly warmup?: number;
  /** Timed runs; the median is reported. Default 10. */
  readonly runs?: number;
}

export interface Latency {
  readonly medianMs: number;
  readonly minMs: number;
  readonly runs: number;
  readonly warmup: number;
}

/**
 * Median wall time of session.run on one batch in onnxruntime-node with its default graph
 * optimizations (what a user of the model gets), after `warmup` untimed runs.
 */
export async function measureLatency(model: Uint8Array, feeds: TensorMap, options: LatencyOptions = {}): Promise<Latency> {
  const warmup = options.warmup ?? 2;
  const runs = options.runs ?? 10;
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(warmup) || warmup < 0) {
    throw new QuantError('INVALID_ARGUMENT', `latency needs an integer number of runs >= 1 and warm-up runs >= 0, got runs ${runs} and warm-up ${warmup}`);
  }
  const session = await ort.InferenceSession.create(model);
  try {
    // Keyed by the model's input names (a "__proto__" input would otherwise set the prototype).
    const inputs = Object.create(null) as Record<string, ort.Tensor>;
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor(t.dtype === 'float16' ? 'float16' : (t.dtype as ort.Tensor.Type), t.values as ort.Tensor.DataTypeMap['float32'], t.dims);
    const times: number[] = [];
    for (let i = 0; i < warmup + runs; i++) {
      const t0 = performance.now();
      const out = await session.run(inputs);
      const dt = performance.now() - t0;
      for (const t of Object.values(out)) t.dispose();
      if (i >= warmup) times.push(dt);
    }
    times.sort((a, b) => a - b);
    const mid = times.length >> 1;
    const medianMs = times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
    return { medianMs, minMs: times[0]!, runs, warmup };
  } finally {
    await session.release();
  }
}

/** The JSON of `quantkit onnx compare` (docs/onnx.md documents every field). */
export interface CompareFilesReport extends ModelComparison {
  readonly version: 2;
  readonly reference: { readonly path: string; readonly bytes: number };
  readonly candidate: { readonly path: string; readonly bytes: number };
  /** candidate bytes / reference bytes, of the .onnx files (external data files not counted). */
  readonly sizeRatio: number;
  /** Where the inputs came from: a directory, or 'generated' from the input specs (uniform in [-1, 1), seed 0). */
  readonly inputs: string;
  /** Median latency of one run on the first batch, and candidate / reference; null when not measured. */
  readonly latency: { readonly reference: Latency; readonly candidate: Latency; readonly ratio: number } | null;
}

export interface CompareFilesOptions extends LatencyOptions {
  /** Directory of .npy files named after the model inputs (as readCalibrationDir reads them); default: one batch generated from the input specs. */
  readonly inputsDir?: string;
  /** Per-layer figures (default true). */
  readonly layers?: boolean;
  /** Measure latency (default true). */
  readonly latency?: boolean;
  /** What the comparison is judged by (default rel-rms); a custom metric's module is loaded by loadMetricModule. */
  readonly metric?: MetricInput;
  /** Called once the models are loaded when no inputsDir was given, before the runs on generated inputs (callers warn). */
  readonly onGeneratedInputs?: () => void;
}

/**
 * Compares two model files on the same inputs (see compareModels), adding file sizes and latency
 * in onnxruntime-node. Loading errors name the file; models with different outputs or inputs are
 * INVALID_ARGUMENT.
 */
export async function compareModelFiles(referencePath: string, candidatePath: string, options: CompareFilesOptions = {}): Promise<CompareFilesReport> {
  const a = loadModel(referencePath);
  const b = loadModel(candidatePath);
  checkComparable(a, b, [referencePath, candidatePath]);
  const inputs = comparisonBatches(a, options.inputsDir);
  if (inputs.label === 'generated') options.onGeneratedInputs?.();
  const comparison = await compareModels(a, b, createOrtRunner(), inputs.source, { layers: options.layers ?? true, ...(options.metric !== undefined && { metric: options.metric }) });
  const reference = { path: referencePath, bytes: statSync(referencePath).size };
  const candidate = { path: candidatePath, bytes: statSync(candidatePath).size };
  let latency: CompareFilesReport['latency'] = null;
  if (options.latency ?? true) {
    const first = await inputs.first();
    const ra = await measureLatency(encodeModel(a), first, options);
    const rb = await measureLatency(encodeModel(b), first, options);
    latency = { reference: ra, candidate: rb, ratio: rb.medianMs / ra.medianMs };
  }
  return {
    version: 2,
    reference,
    candidate,
    sizeRatio: candidate.bytes / reference.bytes,
    inputs: inputs.label,
    ...comparison,
    latency,
  };
}
