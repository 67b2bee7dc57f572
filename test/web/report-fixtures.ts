import type { AutoPrecisionReport } from '../../src/onnx/analysis/auto-precision.js';
import type { ModelComparison } from '../../src/onnx/analysis/compare-models.js';
import type { OutputMetrics } from '../../src/onnx/analysis/compare-metrics.js';
import type { SensitivityReport } from '../../src/onnx/analysis/sensitivity.js';

/**
 * Report fixtures typed by the ONNX modules' own report types (so a change there fails the
 * typecheck here), serialised as the CLI's --json does: non-finite numbers as null
 * (toJson in src/cli/commands/onnx-compare.ts).
 */
export function asCliJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}

const output: OutputMetrics = {
  name: 'logits',
  dims: [1, 10],
  elements: 40,
  maxAbsError: 0.031,
  meanAbsError: 0.008,
  rmsError: 0.011,
  relativeRmsError: 0.0123,
  cosine: 0.99992,
  sqnrDb: 38.2,
  nanMismatches: 0,
  classifier: { classes: 10, rows: 4, top1Agreement: 1, top5Agreement: 1, majorityClass: 3, majorityShare: 0.5, nonMajorityRows: 2, nonMajorityTop1Agreement: 1 },
};

export const COMPARE_REPORT: ModelComparison & Record<string, unknown> = {
  metric: 'rel-rms',
  outputs: [output],
  error: 0.0123,
  figures: [{ kind: 'rel-rms', output: 'logits', value: 0.0123 }],
  batches: 4,
  layers: [
    { node: 'fc1', opType: 'Gemm', output: 'fc1_out', relativeRmsError: 0.0042, cosine: 0.99999, sqnrDb: 47.5, maxAbsError: 0.012 },
    { node: 'conv2', opType: 'Conv', output: 'conv2_out', relativeRmsError: 0.0311, cosine: 0.9995, sqnrDb: 30.1, maxAbsError: 0.21 },
    { node: 'conv1', opType: 'Conv', output: 'conv1_out', relativeRmsError: 0.0087, cosine: 0.99996, sqnrDb: 41.2, maxAbsError: 0.05 },
    // Identical outputs: SQNR is Infinity, written as null.
    { node: 'fc2', opType: 'MatMul', output: 'logits', relativeRmsError: 0, cosine: 1, sqnrDb: Infinity, maxAbsError: 0 },
  ],
  // Extra fields the command adds (sizes, latency) are ignored by the reader.
  size: { referenceBytes: 1000, candidateBytes: 300 },
};

export const SENSITIVITY_REPORT: SensitivityReport & { version: 2; model: string; inputs: string } = {
  version: 2,
  model: 'model.onnx',
  inputs: 'generated',
  metric: 'rel-rms',
  baseline: 0,
  precisions: ['int8', 'int4'],
  layers: [
    { node: 'conv1', opType: 'Conv', results: { int8: { status: 'measured', error: 0.02, cosine: 0.9998, weightBytesBefore: 3456, weightBytesAfter: 900, form: 'DequantizeLinear' }, int4: { status: 'not-applicable', reason: 'int4 needs a MatMul or Gemm weight' } } },
    { node: 'fc1', opType: 'MatMul', results: { int8: { status: 'measured', error: 0.004, cosine: 0.99999, weightBytesBefore: 40960, weightBytesAfter: 10240, form: 'DequantizeLinear' }, int4: { status: 'measured', error: 0.061, cosine: 0.998, weightBytesBefore: 40960, weightBytesAfter: 5760, form: 'com.microsoft.MatMulNBits' } } },
  ],
  skipped: [{ node: 'emb', opType: 'Gather', reason: 'not a selected op type' }],
  batches: 2,
};

export const AUTO_PRECISION_REPORT: AutoPrecisionReport = {
  version: 2,
  maxError: 0.01,
  metric: 'rel-rms',
  baseline: 0,
  error: 0.0081,
  outputs: [output],
  figures: [{ kind: 'rel-rms', output: 'logits', value: 0.0081 }],
  predictedError: 0.0079,
  withinBound: true,
  steps: 2,
  plannedSteps: 3,
  verifications: [{ steps: 2, error: 0.0081, accepted: true }],
  counts: { int4: 1, int8: 1, float: 1 },
  weightBytesBefore: 85376,
  weightBytesAfter: 16900,
  layers: [
    { node: 'fc1', opType: 'MatMul', precision: 'int4', isolatedError: { int8: 0.004, int4: 0.006 }, weightBytesBefore: 40960, weightBytesAfter: 5760, reason: 'smallest error per byte saved' },
    { node: 'fc2', opType: 'MatMul', precision: 'int8', isolatedError: { int8: 0.002, int4: 0.03 }, weightBytesBefore: 40960, weightBytesAfter: 10240, reason: 'int4 would pass the bound' },
    { node: 'conv1', opType: 'Conv', precision: 'float', isolatedError: { int8: 0.02 }, weightBytesBefore: 3456, weightBytesAfter: 3456, reason: 'int8 alone exceeds the bound' },
  ],
  sensitivity: { metric: 'rel-rms', baseline: 0, precisions: ['int8', 'int4'], layers: [], skipped: [], batches: 2 },
};
