// The public face of quantkit's core: pure numerics, no I/O, runs in Node and in browsers.
export * from './errors.js';
export * from './dtypes.js';
export * from './layout.js';
export * from './round.js';
export * from './random.js';
export * from './choose-qparams.js';
export type * from './qparams.js';
export * from './quantize.js';
export * from './stochastic.js';
export * from './validate.js';
export * from './kernels/index.js';
export type * from './observers/observer.js';
