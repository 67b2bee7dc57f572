import { errorMeasures } from '../../core/error-measures.js';
import { QuantError } from '../../core/errors.js';
import type { Granularity } from '../../core/layout.js';
import { computeRange, fakeQuantize } from '../../core/quantize.js';
import { blockLayout, PER_TENSOR } from '../../core/layout.js';
import { isSourceFloatDtype, quantizedTensorNames, scaleTensorName, zeroPointTensorName } from '../../formats/quantized-safetensors.js';
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
  /** SQNR in dB of each SAFETENSORS_INSPECT_SCHEMES entry (Infinity when exact), for non-empty float tensors that are weights. */
  readonly sqnrDb?: readonly number[];
  /**
   * In a file quantkit quantized: the codes of a quantized tensor, or its scale or zero point
   * (`of` names the tensor). Parameters are not weights: they get no SQNR.
   */
  readonly role?: 'codes' | 'scale' | 'zero-point';
  readonly of?: string;
}

/** For a file written by quantkit's quantize: each quantized tensor's codes, scale and zero point by tensor name. */
function quantizedRoles(reader: SafetensorsFileReader): Map<string, { role: 'codes' | 'scale' | 'zero-point'; of: string }> {
  const roles = new Map<string, { role: 'codes' | 'scale' | 'zero-point'; of: string }>();
  let names: string[] | undefined;
  try {
    names = quantizedTensorNames(reader.header);
  } catch {
    // Another version's metadata: inspect still lists the tensors, as for any file.
    names = undefined;
  }
  for (const of of names ?? []) {
    roles.set(of, { role: 'codes', of });
    roles.set(scaleTensorName(of), { role: 'scale', of });
    roles.set(zeroPointTensorName(of), { role: 'zero-point', of });
  }
  return roles;
}

/**
 * Every tensor of a .safetensors file, with the range and the SQNR that symmetric int8 per output
 * channel (axis 0) and int4 in blocks of 32 along the last axis would give each float tensor:
 * the tensors with the lowest figures are the ones to keep in higher precision (--exclude). In a
 * file quantkit quantized, the scale and zero-point tensors are labelled as the parameters of the
 * tensor they quantize (the scales with their range), never priced as weights.
 * Tensors are read one at a time; NaN or ±Infinity in a tensor is an error naming it.
 */
export function inspectSafetensorsFile(reader: SafetensorsFileReader, onProgress?: (done: number, total: number) => void): SafetensorsTensorInspection[] {
  const out: SafetensorsTensorInspection[] = [];
  const total = reader.header.tensors.length;
  const roles = quantizedRoles(reader);
  for (const t of reader.header.tensors) {
    const size = t.shape.reduce((a, d) => a * d, 1);
    const role = roles.get(t.name);
    const base = { name: t.name, dtype: t.dtype, shape: t.shape, size, ...role };
    if (role?.role === 'scale' && size > 0) {
      const { min, max } = computeRange(reader.readFloat32(t), blockLayout([size], PER_TENSOR));
      out.push({ ...base, min: min[0]!, max: max[0]! });
    } else if (!isSourceFloatDtype(t.dtype) || size === 0 || role) {
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
