// Low-bit weight quantization beyond round-to-nearest: every method returns codes and per-block
// parameters in the layout of `quantize` with per-block granularity along the input dimension.
export type { LowBitOptions, LowBitResult } from './lowbit-scheme.js';
export * from './rtn-quantize-blocks.js';
export * from './hessian-accumulator.js';
export * from './drift-accumulator.js';
export * from './inverse-cholesky.js';
export * from './quantize-weight-gptq.js';
export type { GptqKernelKind } from './gptq-kernels.js';
export * from './awq-scales.js';
export * from './hqq-quantize.js';
export * from './search-quantize.js';
