import { errorMeasures } from '../../core/error-measures.js';
import { QuantError } from '../../core/errors.js';
import type { Granularity } from '../../core/layout.js';
import { computeRange, fakeQuantize } from '../../core/quantize.js';
import { blockLayout, PER_TENSOR } from '../../core/layout.js';
import { isSourceFloatDtype } from '../../formats/quantized-safetensors.js';
import type { SafetensorsFileReader } from './safetensors-file.js';

/** The schemes `inspect` prices for every float tensor: what weight quantization usually picks. */
export const SAFETENSORS_INSPECT_SCHEMES = [
  { label: 'int8 per channel', dtype: 'int8', symmetric: true, granularity: (rank: number): Granularity => (rank >= 2 ? { kind: 'per-axis', axis: 0 } : PER_TENSOR) },
  { label: 'int4 block 32', dtype: 'int4', symmetric: true, granularity: (rank: number): Granularity => (rank >= 1 ? { kind: 'per-block', axis: -1, blockSize: 32 } : PER_TENSOR) },
] as const;

export interface SafetensorsTensorInspection {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly size: number;
  /** Present for non-empty float tensors. */
  readonly min?: number;
  readonly max?: number;
  /** SQNR in dB of each SAFETENSORS_INSPECT_SCHEMES entry (Infinity when exact), for non-empty float tensors. */
  readonly sqnrDb?: readonly number[];
}

/**
 * Every tensor of a .safetensors file, with the range and the SQNR that symmetric int8 per output
 * channel (axis 0) and int4 in blocks of 32 along the last axis would give each float tensor:
 * the tensors with the lowest figures are the ones to keep in higher precision (--exclude).
 * Tensors are read one at a time; NaN or ±Infinity in a tensor is an error naming it.
 */
export function inspectSafetensorsFile(reader: SafetensorsFileReader, onProgress?: (done: number, total: number) => void): SafetensorsTensorInspection[] {
  const out: SafetensorsTensorInspection[] = [];
  const total = reader.header.tensors.length;
  for (const t of reader.header.tensors) {
    const size = t.shape.reduce((a, d) => a * d, 1);
    const base = { name: t.name, dtype: t.dtype, shape: t.shape, size };
    if (!isSourceFloatDtype(t.dtype) || size === 0) {
      out.push(base);
    } else {
      const x = reader.readFloat32(t);
      try {
        const { min, max } = computeRange(x, blockLayout([size], PER_TENSOR));
        const sqnrDb = SAFETENSORS_INSPECT_SCHEMES.map((s) => {
          const { values } = fakeQuantize(x, t.shape, { dtype: s.dtype, symmetric: s.symmetric, granularity: s.granularity(t.shape.length), validate: false });
          return errorMeasures(x, values).sqnrDb;
        });
        out.push({ ...base, min: min[0]!, max: max[0]!, sqnrDb });
      } catch (e) {
        if (e instanceof QuantError) throw new QuantError(e.code, `tensor '${t.name}': ${e.message}`, { cause: e });
        throw e;
      }
    }
    onProgress?.(out.length, total);
  }
  return out;
}
