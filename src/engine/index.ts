// The public face of quantkit's engine: the stateful Quantizer and its config.
export * from './config.js';
export * from './quantizer.js';
export * from './quantizer-stats.js';
export * from './tensor-input.js';
export * from './layer-config.js';
export * from './parameter-export.js';
export type * from './calibration-report.js';
export * from './value-histogram.js';
