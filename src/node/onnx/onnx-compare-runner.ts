import { statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { QuantError } from '../../core/errors.js';
import { encodeModel } from '../../formats/onnx/model.js';
import type { ModelComparison } from '../../onnx/analysis/compare-models.js';
import type { MetricInput } from '../../onnx/metrics/metric-options.js';
import { checkComparable, compareModels } from '../../onnx/analysis/compare-models.js';
import { latencyAdvice } from '../../onnx/analysis/latency-advice.js';
import type { TensorMap } from '../../onnx/run-model.js';
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
    const inputs = toOrtFeeds(feeds);
    const times: number[] = [];
    for (let i = 0; i < warmup + runs; i++) {
      const t0 = performance.now();
      const out = await session.run(inputs);
      const dt = performance.now() - t0;
      for (const t of Object.values(out)) t.dispose();
      if (i >= warmup) times.push(dt);
    }
    return summarise(times, runs, warmup);
  } finally {
    await session.release();
  }
}

function toOrtFeeds(feeds: TensorMap): Record<string, ort.Tensor> {
  // Keyed by the model's input names (a "__proto__" input would otherwise set the prototype).
  const inputs = Object.create(null) as Record<string, ort.Tensor>;
  for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor(t.dtype === 'float16' ? 'float16' : (t.dtype as ort.Tensor.Type), t.values as ort.Tensor.DataTypeMap['float32'], t.dims);
  return inputs;
}

function summarise(times: number[], runs: number, warmup: number): Latency {
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const medianMs = times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
  return { medianMs, minMs: times[0]!, runs, warmup };
}

/**
 * Latency of two models on the same feeds, their runs alternating (a, b, a, b, ...) so both see
 * the same load swings of a shared machine: a ratio of medians taken minutes apart would measure
 * the machine as much as the models. Default graph optimizations, as measureLatency; intra-op
 * spinning off in both sessions.
 */
export async function measureLatencyPair(a: Uint8Array, b: Uint8Array, feeds: TensorMap, options: LatencyOptions = {}): Promise<{ reference: Latency; candidate: Latency }> {
  const warmup = options.warmup ?? 2;
  const runs = options.runs ?? 10;
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(warmup) || warmup < 0) {
    throw new QuantError('INVALID_ARGUMENT', `latency needs an integer number of runs >= 1 and warm-up runs >= 0, got runs ${runs} and warm-up ${warmup}`);
  }
  const sessions: ort.InferenceSession[] = [];
  try {
    // Spinning off: the idle session's spinning intra-op threads would otherwise steal the cores from the one being timed.
    const options: ort.InferenceSession.SessionOptions = { extra: { session: { intra_op: { allow_spinning: '0' } } } };
    sessions.push(await ort.InferenceSession.create(a, options));
    sessions.push(await ort.InferenceSession.create(b, options));
    const inputs = toOrtFeeds(feeds);
    const times: [number[], number[]] = [[], []];
    for (let i = 0; i < warmup + runs; i++) {
      for (let k = 0; k < 2; k++) {
        const t0 = performance.now();
        const out = await sessions[k]!.run(inputs);
        const dt = performance.now() - t0;
        for (const t of Object.values(out)) t.dispose();
        if (i >= warmup) times[k]!.push(dt);
      }
    }
    return { reference: summarise(times[0], runs, warmup), candidate: summarise(times[1], runs, warmup) };
  } finally {
    for (const s of sessions) await s.release();
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
  /** Median latency of one run on the first batch (runs of the two models alternating), candidate / reference, and advice when a quantized candidate is slower than its mode's goal; null when not measured. */
  readonly latency: { readonly reference: Latency; readonly candidate: Latency; readonly ratio: number; readonly advice?: string } | null;
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
    const { reference: ra, candidate: rb } = await measureLatencyPair(encodeModel(a), encodeModel(b), first, options);
    const ratio = rb.medianMs / ra.medianMs;
    // A quantized candidate slower than its mode's goal gets one line saying why and what to try.
    const advice = latencyAdvice(b, ratio);
    latency = { reference: ra, candidate: rb, ratio, ...(advice && { advice }) };
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
