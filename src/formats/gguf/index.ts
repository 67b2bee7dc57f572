// GGUF, ggml's model file: read and write headers, tensor layout and metadata values.
export * from './encode-gguf-header.js';
export * from './ggml-type-named.js';
export * from './gguf-header.js';
export * from './gguf-value.js';
export * from './imatrix.js';
export * from './llama-quant-plan.js';
