import { QuantError } from '../core/errors.js';
import type { QParams } from '../core/qparams.js';
import { decodeParamsScheme, schemeOf } from './params-file.js';
import type { SafetensorsDtype, SafetensorsHeader } from './safetensors.js';

/**
 * How quantkit stores quantized tensors in a safetensors file ("quantkit.safetensors/1"):
 *
 *   W               the codes: I8 / U8 / I16 / U16 of W's shape (the smallest integer type that
 *                   holds them, as for .npy), or packed 2- and 4-bit codes as flat U8
 *   W.scale         F32 of the parameter shape ([] per tensor, [C] per channel, W's shape with the
 *                   axis in blocks per block), C order
 *   W.zero_point    I32 of the same shape
 *   __metadata__    "quantkit": "quantkit.safetensors/1" and, per quantized tensor,
 *                   "quantkit.W": the params scheme (a quantkit.params file without scale and
 *                   zero_point) plus "source_dtype" (the float type W had) and, when packed,
 *                   "packed": true and "tensor_shape" (W's shape)
 *
 * Tensors that were not quantized are copied unchanged. x ≈ scale · (q − zero_point), as
 * everywhere in quantkit. The scales are tensors rather than metadata because per-block
 * parameters of a large model run to millions of values, and readers cap the JSON header.
 */
export const QUANTKIT_SAFETENSORS_FORMAT = 'quantkit.safetensors/1';
/** The metadata key marking the file; per-tensor keys are "quantkit.<name>", which it cannot collide with. */
export const FORMAT_KEY = 'quantkit';

/** The float types quantkit quantizes from and dequantizes to. */
export const SOURCE_FLOAT_DTYPES = ['F32', 'F16', 'BF16', 'F64'] as const satisfies readonly SafetensorsDtype[];
export type SourceFloatDtype = (typeof SOURCE_FLOAT_DTYPES)[number];

export function isSourceFloatDtype(d: string): d is SourceFloatDtype {
  return (SOURCE_FLOAT_DTYPES as readonly string[]).includes(d);
}

export const scaleTensorName = (name: string): string => `${name}.scale`;
export const zeroPointTensorName = (name: string): string => `${name}.zero_point`;
export const entryKey = (name: string): string => `quantkit.${name}`;

/** What the metadata says about one quantized tensor, with its arrays. */
export interface QuantizedEntry {
  readonly params: QParams;
  readonly sourceDtype: SourceFloatDtype;
  /** The tensor's shape when its codes are packed (the codes tensor is then flat U8). */
  readonly packedShape?: readonly number[];
}

/**
 * The metadata value for a quantized tensor (JSON text). It needs the parameters' scheme only, not
 * their values, so a writer can put the header first and the tensors after it in one pass.
 */
export function encodeQuantizedEntry(scheme: Omit<QParams, 'scale' | 'zeroPoint'>, sourceDtype: SourceFloatDtype, packedShape?: readonly number[]): string {
  const body: Record<string, unknown> = { ...schemeOf(scheme), source_dtype: sourceDtype };
  if (packedShape) {
    body.packed = true;
    body.tensor_shape = [...packedShape];
  }
  return JSON.stringify(body);
}

/** Reads a metadata value back, with the scale and zero point tensors; errors name the tensor. */
export function decodeQuantizedEntry(name: string, text: string, scale: Float32Array, zeroPoint: Int32Array): QuantizedEntry {
  const fail = (message: string, cause?: unknown): never => {
    throw new QuantError('MALFORMED_FILE', `quantized tensor '${name}': ${message}`, cause === undefined ? {} : { cause });
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`its metadata "${entryKey(name)}" is not JSON: ${(e as Error).message}`, e);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return fail(`its metadata "${entryKey(name)}" must be a JSON object`);
  const { source_dtype: sourceDtype, packed, tensor_shape: tensorShape, ...scheme } = json as Record<string, unknown>;
  if (typeof sourceDtype !== 'string' || !isSourceFloatDtype(sourceDtype)) {
    return fail(`"source_dtype" must be one of ${SOURCE_FLOAT_DTYPES.join(', ')}, got ${JSON.stringify(sourceDtype)}`);
  }
  let params: QParams;
  try {
    params = decodeParamsScheme(scheme, scale, zeroPoint);
  } catch (e) {
    return fail((e as Error).message, e);
  }
  if (packed === undefined || packed === false) return { params, sourceDtype };
  if (packed !== true) return fail(`"packed" must be true or false, got ${JSON.stringify(packed)}`);
  if (!Array.isArray(tensorShape) || tensorShape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    return fail(`packed codes need "tensor_shape", an array of non-negative integers, got ${JSON.stringify(tensorShape)}`);
  }
  return { params, sourceDtype, packedShape: tensorShape as number[] };
}

/** Whether the file says it was written by quantkit's quantize (and which tensors are quantized). */
export function quantizedTensorNames(header: SafetensorsHeader): string[] | undefined {
  if (header.metadata[FORMAT_KEY] === undefined) return undefined;
  if (header.metadata[FORMAT_KEY] !== QUANTKIT_SAFETENSORS_FORMAT) {
    throw new QuantError('UNSUPPORTED', `the file is "${header.metadata[FORMAT_KEY]}": this quantkit reads "${QUANTKIT_SAFETENSORS_FORMAT}"`);
  }
  const names = new Set(header.tensors.map((t) => t.name));
  return Object.keys(header.metadata)
    .filter((k) => k.startsWith('quantkit.') && names.has(k.slice('quantkit.'.length)))
    .map((k) => k.slice('quantkit.'.length));
}
