/*
 * The safetensors dtype table: names, element sizes, and which ones floatTensorToFloat32 reads.
 */

/**
 * The dtypes this codec knows, with their sizes, listed in the order of the reference's Rust
 * `Dtype` enum (its writer lays tensors out from the last of these to the first). `float` marks
 * the ones floatTensorToFloat32 reads.
 *
 * Newer names the reference has added (sub-byte F4, F6_E2M3, F6_E3M2, F8_E8M0, the FNUZ float8s,
 * C64) are refused as unknown rather than guessed: a wrong element size would misread every
 * offset after it.
 */
const DTYPE_TABLE = {
  BOOL: { bytes: 1, float: false },
  U8: { bytes: 1, float: false },
  I8: { bytes: 1, float: false },
  F8_E5M2: { bytes: 1, float: false },
  F8_E4M3: { bytes: 1, float: false },
  I16: { bytes: 2, float: false },
  U16: { bytes: 2, float: false },
  F16: { bytes: 2, float: true },
  BF16: { bytes: 2, float: true },
  I32: { bytes: 4, float: false },
  U32: { bytes: 4, float: false },
  F32: { bytes: 4, float: true },
  F64: { bytes: 8, float: true },
  I64: { bytes: 8, float: false },
  U64: { bytes: 8, float: false },
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_TABLE;

export const SAFETENSORS_DTYPES: Readonly<Record<SafetensorsDtype, { readonly bytes: number; readonly float: boolean }>> =
  DTYPE_TABLE;


/** Every dtype name, in the reference's enum order. */
export const KNOWN = Object.keys(DTYPE_TABLE) as SafetensorsDtype[];
/** A dtype's index in the reference's enum order; its writer sorts tensors by this, widest first. */
export const RANK = new Map<string, number>(KNOWN.map((d, i) => [d, i]));

/** Whether d names a dtype of the table. */
export function isDtype(d: unknown): d is SafetensorsDtype {
  return typeof d === 'string' && RANK.has(d);
}

/** product(shape) · bytes, or undefined past 2^53 (no file can hold that many bytes). */
export function byteSize(dtype: SafetensorsDtype, shape: readonly number[]): number | undefined {
  let n = DTYPE_TABLE[dtype].bytes;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return undefined;
  }
  return n;
}
