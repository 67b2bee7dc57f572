/**
 * Every tensor type a GGUF file may name, by its ggml type id: the container needs each one's
 * block size (values per block) and type size (bytes per block) to know where a tensor's bytes
 * end, whether or not quantkit can quantize to it. Ids 4, 5 and 31-33, 36-38 were removed from
 * ggml and are refused. Values read off ggml's own `ggml_blck_size` / `ggml_type_size`.
 */
export const GGML_TYPE_TABLE = [
  { id: 0, name: 'F32', blockSize: 1, typeSize: 4 },
  { id: 1, name: 'F16', blockSize: 1, typeSize: 2 },
  { id: 2, name: 'Q4_0', blockSize: 32, typeSize: 18 },
  { id: 3, name: 'Q4_1', blockSize: 32, typeSize: 20 },
  { id: 6, name: 'Q5_0', blockSize: 32, typeSize: 22 },
  { id: 7, name: 'Q5_1', blockSize: 32, typeSize: 24 },
  { id: 8, name: 'Q8_0', blockSize: 32, typeSize: 34 },
  { id: 9, name: 'Q8_1', blockSize: 32, typeSize: 36 },
  { id: 10, name: 'Q2_K', blockSize: 256, typeSize: 84 },
  { id: 11, name: 'Q3_K', blockSize: 256, typeSize: 110 },
  { id: 12, name: 'Q4_K', blockSize: 256, typeSize: 144 },
  { id: 13, name: 'Q5_K', blockSize: 256, typeSize: 176 },
  { id: 14, name: 'Q6_K', blockSize: 256, typeSize: 210 },
  { id: 15, name: 'Q8_K', blockSize: 256, typeSize: 292 },
  { id: 16, name: 'IQ2_XXS', blockSize: 256, typeSize: 66 },
  { id: 17, name: 'IQ2_XS', blockSize: 256, typeSize: 74 },
  { id: 18, name: 'IQ3_XXS', blockSize: 256, typeSize: 98 },
  { id: 19, name: 'IQ1_S', blockSize: 256, typeSize: 50 },
  { id: 20, name: 'IQ4_NL', blockSize: 32, typeSize: 18 },
  { id: 21, name: 'IQ3_S', blockSize: 256, typeSize: 110 },
  { id: 22, name: 'IQ2_S', blockSize: 256, typeSize: 82 },
  { id: 23, name: 'IQ4_XS', blockSize: 256, typeSize: 136 },
  { id: 24, name: 'I8', blockSize: 1, typeSize: 1 },
  { id: 25, name: 'I16', blockSize: 1, typeSize: 2 },
  { id: 26, name: 'I32', blockSize: 1, typeSize: 4 },
  { id: 27, name: 'I64', blockSize: 1, typeSize: 8 },
  { id: 28, name: 'F64', blockSize: 1, typeSize: 8 },
  { id: 29, name: 'IQ1_M', blockSize: 256, typeSize: 56 },
  { id: 30, name: 'BF16', blockSize: 1, typeSize: 2 },
  { id: 34, name: 'TQ1_0', blockSize: 256, typeSize: 54 },
  { id: 35, name: 'TQ2_0', blockSize: 256, typeSize: 66 },
  { id: 39, name: 'MXFP4', blockSize: 32, typeSize: 17 },
  { id: 40, name: 'NVFP4', blockSize: 64, typeSize: 36 },
  { id: 41, name: 'Q1_0', blockSize: 128, typeSize: 18 },
  { id: 42, name: 'Q2_0', blockSize: 64, typeSize: 18 },
] as const satisfies readonly { id: number; name: string; blockSize: number; typeSize: number }[];

export type GgmlTypeName = (typeof GGML_TYPE_TABLE)[number]['name'];
export type GgmlTypeEntry = (typeof GGML_TYPE_TABLE)[number];

const BY_ID = new Map<number, GgmlTypeEntry>(GGML_TYPE_TABLE.map((t) => [t.id, t]));
const BY_NAME = new Map<string, GgmlTypeEntry>(GGML_TYPE_TABLE.map((t) => [t.name, t]));

/** The type with ggml id `id`, or undefined for an id ggml does not (or no longer) define. */
export function ggmlTypeById(id: number): GgmlTypeEntry | undefined {
  return BY_ID.get(id);
}

/** The type named `name` (case-insensitive: 'q4_k' is Q4_K), or undefined. */
export function ggmlTypeByName(name: string): GgmlTypeEntry | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** Bytes of one row of `n` values of type `t` (n a multiple of the block size). */
export function ggmlRowSize(t: GgmlTypeEntry, n: number): number {
  return (n / t.blockSize) * t.typeSize;
}
