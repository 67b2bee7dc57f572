// ggml's block types (llama.cpp's GGUF tensor encodings), byte-identical to ggml-quants.c.
export { GGML_TYPES, ggmlTypeById, ggmlTypeInfo, ggmlByteSize } from './ggml-types.js';
export type { GgmlType, GgmlQuantType, GgmlTypeInfo } from './ggml-types.js';
export { quantizeGgml, dequantizeGgml, ggmlUsesImatrix } from './quantize-ggml.js';
export type { QuantizeGgmlOptions } from './quantize-ggml.js';
export {
  fp32ToFp16 as ggmlFp32ToFp16,
  fp16ToFp32 as ggmlFp16ToFp32,
  fp32ToBf16 as ggmlFp32ToBf16,
  bf16ToFp32 as ggmlBf16ToFp32,
} from './ggml-float.js';
