// File formats: bytes in, structures out (no filesystem).
export * from './npy.js';
export * from './params-file.js';
export * from './params-json.js';
export * from './params-safetensors.js';
export * from './safetensors.js';
export * from './quantized-safetensors.js';
export * from './gguf/index.js';
