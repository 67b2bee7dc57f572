// ONNX model quantization: model in, model and report out. Running a model is a function passed in
// (quantkit/node's createOrtRunner runs it with onnxruntime-node).
export * from '../formats/onnx/model.js';
export { readTensor, readFloat32, makeTensor } from '../formats/onnx/tensor.js';
export { quantizeModel } from './quantize-model.js';
// The per-weight low-bit methods quantizeModel's `method` option runs, for callers quantizing weights themselves.
export { quantizeWeightGptq, awqScales, applyAwqScales, hqqQuantize, searchQuantize, rtnQuantizeBlocks, hessianAccumulator, driftAccumulator } from '../core/lowbit/index.js';
export type { LowBitOptions, LowBitResult } from '../core/lowbit/index.js';
export * from './quantize-options.js';
export { chooseIntegerTypes, describeIntegerTypes, hasVnni, targetWarning } from './target.js';
export type { CpuDescription, IntegerTypes } from './target.js';
export type * from './quantize-report.js';
export type * from './run-model.js';
export { compareModels } from './analysis/compare-models.js';
export type { ModelComparison, LayerMetrics, CompareOptions } from './analysis/compare-models.js';
export { comparisonError, isClassifierLike } from './analysis/compare-metrics.js';
export type { ClassifierAgreement, OutputMetrics } from './analysis/compare-metrics.js';
export { METRIC_KINDS, parseMetric } from './metrics/metric-options.js';
export type { CustomMetricFunction, MetricBatch, MetricInput, MetricKind, MetricSpec, MetricTensor, MetricTensors } from './metrics/metric-options.js';
export type { MetricFigure, ScoreForm } from './metrics/metric.js';
export { analyzeSensitivity } from './analysis/sensitivity.js';
export { autoPrecision } from './analysis/auto-precision.js';
