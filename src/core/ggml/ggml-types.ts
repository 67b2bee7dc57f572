import { QuantError } from '../errors.js';

/**
 * What one ggml tensor type is on disk: its id in ggml.h's `enum ggml_type` (the number a GGUF
 * tensor info stores), how many values one block holds and how many bytes one block takes.
 * `quantize` says whether quantkit can quantize to and dequantize from the type; the others are
 * listed so a GGUF reader can size every tensor llama.cpp may write.
 */
export interface GgmlTypeInfo {
  readonly name: string;
  readonly id: number;
  readonly blockSize: number;
  readonly typeSize: number;
  readonly quantize: boolean;
}

const t = (id: number, blockSize: number, typeSize: number, quantize: boolean) => ({ id, blockSize, typeSize, quantize });

/** Every ggml type llama.cpp can store in a GGUF file, keyed by the name GGUF tools print. */
export const GGML_TYPES = {
  F32: { name: 'F32', ...t(0, 1, 4, true) },
  F16: { name: 'F16', ...t(1, 1, 2, true) },
  Q4_0: { name: 'Q4_0', ...t(2, 32, 18, true) },
  Q4_1: { name: 'Q4_1', ...t(3, 32, 20, true) },
  Q5_0: { name: 'Q5_0', ...t(6, 32, 22, true) },
  Q5_1: { name: 'Q5_1', ...t(7, 32, 24, true) },
  Q8_0: { name: 'Q8_0', ...t(8, 32, 34, true) },
  Q8_1: { name: 'Q8_1', ...t(9, 32, 36, false) },
  Q2_K: { name: 'Q2_K', ...t(10, 256, 84, true) },
  Q3_K: { name: 'Q3_K', ...t(11, 256, 110, true) },
  Q4_K: { name: 'Q4_K', ...t(12, 256, 144, true) },
  Q5_K: { name: 'Q5_K', ...t(13, 256, 176, true) },
  Q6_K: { name: 'Q6_K', ...t(14, 256, 210, true) },
  Q8_K: { name: 'Q8_K', ...t(15, 256, 292, false) },
  IQ2_XXS: { name: 'IQ2_XXS', ...t(16, 256, 66, false) },
  IQ2_XS: { name: 'IQ2_XS', ...t(17, 256, 74, false) },
  IQ3_XXS: { name: 'IQ3_XXS', ...t(18, 256, 98, false) },
  IQ1_S: { name: 'IQ1_S', ...t(19, 256, 50, false) },
  IQ4_NL: { name: 'IQ4_NL', ...t(20, 32, 18, true) },
  IQ3_S: { name: 'IQ3_S', ...t(21, 256, 110, false) },
  IQ2_S: { name: 'IQ2_S', ...t(22, 256, 82, false) },
  IQ4_XS: { name: 'IQ4_XS', ...t(23, 256, 136, true) },
  I8: { name: 'I8', ...t(24, 1, 1, false) },
  I16: { name: 'I16', ...t(25, 1, 2, false) },
  I32: { name: 'I32', ...t(26, 1, 4, false) },
  I64: { name: 'I64', ...t(27, 1, 8, false) },
  F64: { name: 'F64', ...t(28, 1, 8, false) },
  IQ1_M: { name: 'IQ1_M', ...t(29, 256, 56, false) },
  BF16: { name: 'BF16', ...t(30, 1, 2, true) },
  TQ1_0: { name: 'TQ1_0', ...t(34, 256, 54, true) },
  TQ2_0: { name: 'TQ2_0', ...t(35, 256, 66, true) },
  MXFP4: { name: 'MXFP4', ...t(39, 32, 17, true) },
  NVFP4: { name: 'NVFP4', ...t(40, 64, 36, false) },
  Q1_0: { name: 'Q1_0', ...t(41, 128, 18, false) },
  Q2_0: { name: 'Q2_0', ...t(42, 64, 18, false) },
} as const satisfies Record<string, GgmlTypeInfo>;

/** A ggml type name, e.g. `'Q4_K'`. */
export type GgmlType = keyof typeof GGML_TYPES;

/** The types {@link quantizeGgml} and {@link dequantizeGgml} implement. */
export type GgmlQuantType = { [K in GgmlType]: (typeof GGML_TYPES)[K]['quantize'] extends true ? K : never }[GgmlType];

const BY_ID: ReadonlyMap<number, GgmlTypeInfo> = new Map(Object.values(GGML_TYPES).map((i) => [i.id, i]));

/** The type with ggml type id `id` (as a GGUF tensor info stores it), or undefined if ggml has none. */
export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

/** The table entry for a type name; throws UNKNOWN_DTYPE listing the known names otherwise. */
export function ggmlTypeInfo(type: string): GgmlTypeInfo {
  const info = Object.hasOwn(GGML_TYPES, type) ? GGML_TYPES[type as GgmlType] : undefined;
  if (info === undefined) {
    throw new QuantError('UNKNOWN_DTYPE', `unknown ggml type "${type}"; expected one of ${Object.keys(GGML_TYPES).join(', ')}`);
  }
  return info;
}

/** Bytes that `n` values of `type` take (ggml_row_size); `n` must be a whole number of blocks. */
export function ggmlByteSize(type: GgmlType, n: number): number {
  const info = ggmlTypeInfo(type);
  if (!Number.isSafeInteger(n) || n < 0 || n % info.blockSize !== 0) {
    throw new QuantError('INVALID_BLOCK_SIZE', `${type} stores values in blocks of ${info.blockSize}; got ${n} values`);
  }
  return (n / info.blockSize) * info.typeSize;
}
