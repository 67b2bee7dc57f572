import type { CodeStorage, QuantDtypeName } from '../core/dtypes.js';
import { QUANT_DTYPES } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import type { QParams } from '../core/qparams.js';
import { PLATFORM_LITTLE_ENDIAN } from './npy-dtype.js';
import type { ParamsSchemeV1, StoredParams } from './params-file.js';
import { decodePackedShape, decodeParamsScheme, encodeParamsScheme, PARAMS_SCHEME_FIELDS } from './params-file.js';
import type { SafetensorsDtype, SafetensorsTensorInfo } from './safetensors.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';

/*
 * quantkit's binary parameters file, for parameters too many for JSON (per-block parameters of a
 * large tensor run to millions): a safetensors file of two tensors
 *
 *   scale         F32 of param_shape, C order
 *   zero_point    the codes' own integer type (I8 / U8 up to 8 bits, I16 / U16 above) of param_shape
 *
 * and, in __metadata__, every field of a quantkit.params JSON file besides those two arrays, one
 * key each: format, dtype and granularity as they are, the others as JSON text, e.g.
 *
 *   {"format": "quantkit.params", "version": "1", "dtype": "int4", "bits": "4", "signed": "true",
 *    "symmetric": "false", "narrow": "false", "granularity": "per_block", "axis": "1",
 *    "block_size": "32", "qmin": "-8", "qmax": "7", "param_shape": "[8192,256]"}
 *
 * plus "packed": "true" and "tensor_shape" for codes written packed, as in the JSON file. The
 * meaning is the JSON file's: x ≈ scale · (q − zero_point), checked by the same rules. In Python:
 * safetensors.safe_open(path, "np") gives .metadata() and .get_tensor("scale").
 */

export const PARAMS_SCALE_TENSOR = 'scale';
export const PARAMS_ZERO_POINT_TENSOR = 'zero_point';

/** The safetensors dtype of each code storage: zero points are stored in their codes' type, as ONNX stores them. */
export const CODE_SAFETENSORS_DTYPES: Readonly<Record<CodeStorage, SafetensorsDtype>> = Object.freeze({ int8: 'I8', uint8: 'U8', int16: 'I16', uint16: 'U16' });

/** The safetensors dtype of the zero points of a dtype's parameters: its codes' type. */
export function zeroPointSafetensorsDtype(dtype: QuantDtypeName): SafetensorsDtype {
  return CODE_SAFETENSORS_DTYPES[QUANT_DTYPES[dtype].storage];
}

/** Metadata values that are text as they are; every other field is JSON text. */
const TEXT_FIELDS: ReadonlySet<string> = new Set(['format', 'dtype', 'granularity']);
const PACKED_FIELDS = ['packed', 'tensor_shape'];
const KNOWN_KEYS: ReadonlySet<string> = new Set([...PARAMS_SCHEME_FIELDS, ...PACKED_FIELDS]);

const ZERO_POINT_ARRAYS = { I8: Int8Array, U8: Uint8Array, I16: Int16Array, U16: Uint16Array } as const;
type ZeroPointDtype = keyof typeof ZERO_POINT_ARRAYS;
const isZeroPointDtype = (d: string): d is ZeroPointDtype => Object.prototype.hasOwnProperty.call(ZERO_POINT_ARRAYS, d);

type LittleEndianArray = Float32Array | Int8Array | Uint8Array | Int16Array | Uint16Array;
type ArrayCtor<T> = { new (n: number): T; readonly BYTES_PER_ELEMENT: number };

/** The array's bytes in little-endian order: a view of it on a little-endian host (honouring its offset), a swapped copy otherwise. */
function littleEndianBytes(a: LittleEndianArray): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (PLATFORM_LITTLE_ENDIAN || a.BYTES_PER_ELEMENT === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  const w = a.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += w) for (let k = 0; k < w; k++) out[i + k] = bytes[i + w - 1 - k]!;
  return out;
}

/** A new aligned array of little-endian bytes (any alignment, any host). */
function fromLittleEndian<T extends LittleEndianArray>(Ctor: ArrayCtor<T>, bytes: Uint8Array): T {
  const out = new Ctor(bytes.length / Ctor.BYTES_PER_ELEMENT);
  const raw = new Uint8Array(out.buffer);
  raw.set(bytes);
  if (!PLATFORM_LITTLE_ENDIAN && Ctor.BYTES_PER_ELEMENT > 1) raw.set(littleEndianBytes(out));
  return out;
}

/** The scheme's fields as metadata strings, in the JSON file's order. */
function metadataOf(scheme: ParamsSchemeV1, packedShape?: readonly number[]): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(scheme)) metadata[k] = TEXT_FIELDS.has(k) ? String(v) : JSON.stringify(v);
  if (packedShape) {
    metadata.packed = 'true';
    metadata.tensor_shape = JSON.stringify(packedShape);
  }
  return metadata;
}

/**
 * QParams as a binary parameters file (the bytes of a .safetensors file; layout above). The
 * scheme is checked with the arrays as encodeParamsFile checks them, so a file quantkit writes is
 * one it reads; the values are copied bit for bit (scale as float32, zero points narrowed to the
 * codes' type, which holds every zero point inside [qmin, qmax]).
 * Example: per-block int4 parameters of a [8192, 8192] tensor, block 32 → 10 MB (a 67 MB JSON file).
 */
export function encodeParamsSafetensors(params: QParams, packedShape?: readonly number[]): Uint8Array {
  const scheme = encodeParamsScheme(params);
  const zpDtype = zeroPointSafetensorsDtype(params.dtype) as ZeroPointDtype;
  const zeroPoint = new ZERO_POINT_ARRAYS[zpDtype](params.zeroPoint);
  const shape = [...params.paramShape];
  return encodeSafetensors(
    [
      { name: PARAMS_SCALE_TENSOR, dtype: 'F32', shape, data: littleEndianBytes(params.scale) },
      { name: PARAMS_ZERO_POINT_TENSOR, dtype: zpDtype, shape, data: littleEndianBytes(zeroPoint) },
    ],
    metadataOf(scheme, packedShape),
  );
}

function malformed(message: string): QuantError {
  return new QuantError('MALFORMED_FILE', message);
}

function invalidParams(message: string): QuantError {
  return new QuantError('INVALID_PARAMS', message);
}

const showShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** The metadata as the JSON file's fields: unknown keys refused, JSON text parsed (text that is not JSON is kept, to be named in the error). */
function fieldsOf(metadata: Readonly<Record<string, string>>): Record<string, unknown> {
  const unknown = Object.keys(metadata).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length) {
    const listed = unknown.slice(0, 4).map((k) => JSON.stringify(k.length > 40 ? `${k.slice(0, 37)}...` : k));
    throw invalidParams(`__metadata__ has unknown key(s) ${listed.join(', ')}${unknown.length > 4 ? ` and ${unknown.length - 4} more` : ''} (known: ${[...KNOWN_KEYS].join(', ')})`);
  }
  const fields: Record<string, unknown> = {};
  for (const k of KNOWN_KEYS) {
    if (!Object.prototype.hasOwnProperty.call(metadata, k)) continue;
    const text = metadata[k]!;
    if (TEXT_FIELDS.has(k)) fields[k] = text;
    else {
      try {
        fields[k] = JSON.parse(text);
      } catch {
        fields[k] = text;
      }
    }
  }
  return fields;
}

/** The file's two tensors, each present once with a parameter dtype, of one shape; anything else is MALFORMED_FILE. */
function parameterTensors(tensors: readonly SafetensorsTensorInfo[]): { scale: SafetensorsTensorInfo; zeroPoint: SafetensorsTensorInfo & { dtype: ZeroPointDtype } } {
  const scale = tensors.find((t) => t.name === PARAMS_SCALE_TENSOR);
  const zeroPoint = tensors.find((t) => t.name === PARAMS_ZERO_POINT_TENSOR);
  const other = tensors.find((t) => t !== scale && t !== zeroPoint);
  const expected = `a parameters file holds the tensors '${PARAMS_SCALE_TENSOR}' and '${PARAMS_ZERO_POINT_TENSOR}' only`;
  if (other) throw malformed(`unexpected tensor ${JSON.stringify(other.name.length > 40 ? `${other.name.slice(0, 37)}...` : other.name)}: ${expected}`);
  if (!scale || !zeroPoint) throw malformed(`no tensor '${scale ? PARAMS_ZERO_POINT_TENSOR : PARAMS_SCALE_TENSOR}': ${expected}`);
  if (scale.dtype !== 'F32') throw malformed(`tensor '${PARAMS_SCALE_TENSOR}' must be F32, got ${scale.dtype}`);
  if (!isZeroPointDtype(zeroPoint.dtype)) throw malformed(`tensor '${PARAMS_ZERO_POINT_TENSOR}' must be I8, U8, I16 or U16 (the codes' type), got ${zeroPoint.dtype}`);
  if (!sameShape(scale.shape, zeroPoint.shape)) {
    throw malformed(`tensors '${PARAMS_SCALE_TENSOR}' ${showShape(scale.shape)} and '${PARAMS_ZERO_POINT_TENSOR}' ${showShape(zeroPoint.shape)} must have one shape`);
  }
  return { scale, zeroPoint: zeroPoint as SafetensorsTensorInfo & { dtype: ZeroPointDtype } };
}

/**
 * Reads a binary parameters file (the bytes of a .safetensors file encodeParamsSafetensors
 * wrote) into QParams and, for packed codes, the tensor's shape. Hostile bytes give one one-line
 * QuantError: MALFORMED_FILE when the bytes are not such a file (not safetensors, other tensors,
 * wrong tensor dtypes), INVALID_PARAMS when the scheme or the values do not hold (the JSON file's
 * checks: "params.scale[3]: expected a positive finite number, got -1") or do not fit the
 * tensors (param_shape against the tensors' shape, zero_point's dtype against the codes'). The
 * arrays are copies: `bytes` may be a view into a shared pool of Node buffers.
 */
export function decodeParamsSafetensors(bytes: Uint8Array): StoredParams {
  const file = decodeSafetensors(bytes);
  const { scale: scaleInfo, zeroPoint: zpInfo } = parameterTensors(file.header.tensors);
  const { packed, tensor_shape: tensorShape, ...scheme } = fieldsOf(file.header.metadata);
  const scale = fromLittleEndian(Float32Array, file.tensorBytes(PARAMS_SCALE_TENSOR));
  const zpArray: ArrayCtor<LittleEndianArray> = ZERO_POINT_ARRAYS[zpInfo.dtype];
  const zeroPoint = Int32Array.from(fromLittleEndian(zpArray, file.tensorBytes(PARAMS_ZERO_POINT_TENSOR)));
  const params = decodeParamsScheme(scheme, scale, zeroPoint);
  if (!sameShape(scaleInfo.shape, params.paramShape)) {
    throw invalidParams(`the tensors have shape ${showShape(scaleInfo.shape)}, but param_shape is ${showShape(params.paramShape)}`);
  }
  const want = zeroPointSafetensorsDtype(params.dtype);
  if (zpInfo.dtype !== want) throw invalidParams(`tensor '${PARAMS_ZERO_POINT_TENSOR}' is ${zpInfo.dtype}, but ${params.dtype} codes are ${want}`);
  const packedShape = decodePackedShape(packed, tensorShape);
  return packedShape ? { params, packedShape } : { params };
}
