// GGUF files on disk: read one tensor at a time, write atomically, quantize like llama-quantize.
export * from './convert-gguf-tensors.js';
export * from './dequantize-gguf-file.js';
export * from './gguf-file.js';
export * from './gguf-file-writer.js';
export * from './quantize-gguf-file.js';
export * from './read-imatrix-file.js';
