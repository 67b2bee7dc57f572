import { create } from '@bufbuild/protobuf';
import type { TensorProto } from 'onnx-buf';
import { StringStringEntryProtoSchema, TensorProtoSchema } from 'onnx-buf';
import { QuantError } from '../../core/errors.js';
import { bfloat16BitsToFloat32 } from '../../core/bfloat16.js';
import { float16BitsToFloat32 } from '../../core/float16.js';
import { getKernels } from '../../core/kernels/index.js';
import type { OnnxDtype } from './onnx-dtypes.js';
import { ONNX_DTYPES, onnxDtypeCode, onnxDtypeOf, rawByteLength } from './onnx-dtypes.js';
import { oneLine } from '../one-line.js';

/** Element values of a tensor in the typed array of its dtype (4- and 2-bit types unpacked, one code per element; float16/bfloat16 as their bits). */
export type TensorValues =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface TensorData {
  readonly name: string;
  readonly dtype: OnnxDtype;
  readonly dims: number[];
  readonly values: TensorValues;
}

/** Where an external tensor's bytes are, as its TensorProto.external_data entries say. */
export interface ExternalDataRef {
  readonly location: string;
  readonly offset: number;
  /** Undefined: to the end of the file. */
  readonly length: number | undefined;
}

/** Reads the bytes of an external-data reference (the node layer reads files; a test may serve memory). */
export type ExternalDataLoader = (ref: ExternalDataRef) => Uint8Array;

const ARRAY_CTORS = {
  Float32Array,
  Float64Array,
  Int8Array,
  Uint8Array,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  BigInt64Array,
  BigUint64Array,
} as const;

/** Dims as numbers; a negative or unsafe dimension is a malformed tensor. */
export function tensorDims(t: TensorProto): number[] {
  return t.dims.map((d) => {
    const n = Number(d);
    if (!Number.isSafeInteger(n) || n < 0) throw new QuantError('MALFORMED_FILE', `tensor '${oneLine(t.name)}' has an invalid dimension ${d}`);
    return n;
  });
}

/** The element count; a product of dimensions no array could hold is a malformed tensor, not a crash later. */
export function tensorSize(t: TensorProto): number {
  let n = 1;
  for (const d of tensorDims(t)) n *= d;
  if (!Number.isSafeInteger(n)) throw new QuantError('MALFORMED_FILE', `tensor '${oneLine(t.name)}' has shape [${t.dims.join(', ')}]: expected at most ${Number.MAX_SAFE_INTEGER} elements`);
  return n;
}

/** True when the tensor's bytes live in an external file (data_location = EXTERNAL). */
export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === 1;
}

/** The location/offset/length of an external tensor (offset and length default to 0 and "to the end"). */
export function externalDataRef(t: TensorProto): ExternalDataRef {
  const entries = new Map(t.externalData.map((e) => [e.key, e.value]));
  const location = entries.get('location');
  if (!location) throw new QuantError('MALFORMED_FILE', `external tensor '${oneLine(t.name)}' has no 'location' entry`);
  const num = (key: string): number | undefined => {
    const v = entries.get(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new QuantError('MALFORMED_FILE', `external tensor '${oneLine(t.name)}' has an invalid ${key} '${oneLine(v)}'`);
    return n;
  };
  return { location, offset: num('offset') ?? 0, length: num('length') };
}

/**
 * The little-endian bytes of a numeric tensor as raw_data would hold them: raw_data itself, the
 * external file's bytes through `loader`, or the typed field re-encoded. Strings are not numeric.
 */
export function tensorBytes(t: TensorProto, loader?: ExternalDataLoader): Uint8Array {
  const dtype = onnxDtypeOf(t.dataType);
  if (dtype === 'string') throw new QuantError('UNSUPPORTED', `tensor '${oneLine(t.name)}' holds strings: expected a numeric tensor`);
  const count = tensorSize(t);
  const want = rawByteLength(dtype, count);
  let bytes: Uint8Array;
  if (isExternal(t)) {
    if (!loader) throw new QuantError('INVALID_ARGUMENT', `tensor '${oneLine(t.name)}' is stored in external data: pass a loader (loadModel resolves it)`);
    bytes = loader(externalDataRef(t));
  } else if (t.rawData.length > 0 || want === 0) {
    bytes = t.rawData;
  } else {
    bytes = typedFieldBytes(t, dtype, count);
  }
  if (bytes.length !== want) {
    throw new QuantError('MALFORMED_FILE', `tensor '${oneLine(t.name)}' of ${dtype}[${tensorDims(t).join(', ')}] needs ${want} bytes, got ${bytes.length}`);
  }
  return bytes;
}

function typedFieldBytes(t: TensorProto, dtype: OnnxDtype, count: number): Uint8Array {
  const spec = ONNX_DTYPES[dtype];
  const byteLength = rawByteLength(dtype, count);
  const field = spec.field;
  const src: readonly (number | bigint)[] =
    field === 'floatData' ? t.floatData : field === 'doubleData' ? t.doubleData : field === 'int64Data' ? t.int64Data : field === 'uint64Data' ? t.uint64Data : t.int32Data;
  const expect = dtype === 'complex64' || dtype === 'complex128' ? count * 2 : spec.bytes < 1 ? byteLength : count;
  // Checked before allocating: a header may declare a shape far larger than the data it carries.
  if (src.length !== expect) {
    throw new QuantError('MALFORMED_FILE', `tensor '${oneLine(t.name)}' of ${dtype}[${tensorDims(t).join(', ')}] needs ${expect} values in ${field}, got ${src.length}`);
  }
  const out = new Uint8Array(byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    switch (dtype) {
      case 'float32':
      case 'complex64':
        view.setFloat32(i * 4, v as number, true);
        break;
      case 'float64':
      case 'complex128':
        view.setFloat64(i * 8, v as number, true);
        break;
      case 'int64':
        view.setBigInt64(i * 8, v as bigint, true);
        break;
      case 'uint64':
        view.setBigUint64(i * 8, v as bigint, true);
        break;
      case 'uint32':
        view.setUint32(i * 4, Number(v), true);
        break;
      case 'int32':
        view.setInt32(i * 4, v as number, true);
        break;
      case 'int16':
      case 'uint16':
      case 'float16':
      case 'bfloat16':
        view.setUint16(i * 2, (v as number) & 0xffff, true);
        break;
      default:
        // 8-bit types one per entry; 4- and 2-bit types one packed byte per entry.
        out[i] = (v as number) & 0xff;
    }
  }
  return out;
}

/** A typed array over bytes, viewing them when aligned, copying when not (raw_data sits at any offset inside the decoded file). */
function viewAs<K extends keyof typeof ARRAY_CTORS>(kind: K, bytes: Uint8Array): InstanceType<(typeof ARRAY_CTORS)[K]> {
  const Ctor = ARRAY_CTORS[kind];
  const size = Ctor.BYTES_PER_ELEMENT;
  // Uint8Array.prototype.slice copies even for a Node Buffer (whose own slice is a view).
  const buf = bytes.byteOffset % size === 0 ? bytes : Uint8Array.prototype.slice.call(bytes);
  return new Ctor(buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength / size) as InstanceType<(typeof ARRAY_CTORS)[K]>;
}

/**
 * A tensor's values in the typed array of its dtype (see ONNX_DTYPES.array): raw_data, typed
 * fields and external data alike. 4- and 2-bit types come unpacked (one code per element,
 * signed types sign-extended). The result may view the model's own bytes: copy before writing.
 * Example: readTensor(int64 tensor [2]) → BigInt64Array [a, b].
 */
export function readTensor(t: TensorProto, loader?: ExternalDataLoader): TensorData {
  const dtype = onnxDtypeOf(t.dataType);
  const dims = tensorDims(t);
  const bytes = tensorBytes(t, loader);
  const spec = ONNX_DTYPES[dtype];
  if (spec.array === 'none') throw new QuantError('UNSUPPORTED', `tensor '${oneLine(t.name)}' holds strings: expected a numeric tensor`);
  let values: TensorValues;
  if (spec.bytes < 1) {
    const bits = spec.bytes === 0.5 ? 4 : 2;
    const count = dims.reduce((a, b) => a * b, 1);
    const signed = spec.array === 'Int8Array';
    const out = signed ? new Int8Array(count) : new Uint8Array(count);
    getKernels().unpack(bytes, bits, signed, out);
    values = out;
  } else {
    values = viewAs(spec.array, bytes);
  }
  return { name: t.name, dtype, dims, values };
}

/**
 * A tensor's values as float32 (weights and biases are read this way): float16, bfloat16 and
 * float64 are converted (float64 rounds to nearest float32), integer types cast. A float32 tensor
 * may be returned as a view of the model's bytes: copy before writing.
 */
export function readFloat32(t: TensorProto, loader?: ExternalDataLoader): Float32Array {
  const d = readTensor(t, loader);
  switch (d.dtype) {
    case 'float32':
      return d.values as Float32Array;
    case 'float16':
      return float16BitsToFloat32(d.values as Uint16Array);
    case 'bfloat16':
      return bfloat16BitsToFloat32(d.values as Uint16Array);
    case 'float64':
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
    case 'int4':
    case 'uint4':
    case 'bool':
      return Float32Array.from(d.values as ArrayLike<number>);
    case 'int64':
    case 'uint64':
      return Float32Array.from(d.values as ArrayLike<bigint>, (v) => Number(v));
    default:
      throw new QuantError('UNSUPPORTED', `tensor '${oneLine(t.name)}' is ${d.dtype}: expected a float or integer tensor to read as float32`);
  }
}

/**
 * A TensorProto holding `values` in raw_data (little-endian). For 4- and 2-bit dtypes `values` are
 * the codes one per element and are packed as ONNX stores them (first code in the low bits).
 * Example: makeTensor('w', 'float32', [2, 2], new Float32Array([1, 2, 3, 4])).
 */
export function makeTensor(name: string, dtype: OnnxDtype, dims: readonly number[], values: TensorValues): TensorProto {
  const spec = ONNX_DTYPES[dtype];
  if (spec.array === 'none') throw new QuantError('UNSUPPORTED', `makeTensor makes numeric tensors, got dtype '${dtype}'`);
  const count = dims.reduce((a, b) => a * b, 1);
  const perElement = dtype === 'complex64' || dtype === 'complex128' ? 2 : 1;
  if (values.length !== count * perElement) {
    throw new QuantError('SHAPE_MISMATCH', `tensor '${name}' of shape [${dims.join(', ')}] needs ${count * perElement} values, got ${values.length}`);
  }
  if (!(values instanceof ARRAY_CTORS[spec.array])) {
    throw new QuantError('INVALID_ARGUMENT', `tensor '${name}' of dtype ${dtype} needs a ${spec.array}, got a ${values.constructor.name}`);
  }
  let raw: Uint8Array<ArrayBuffer>;
  if (spec.bytes < 1) {
    raw = new Uint8Array(rawByteLength(dtype, count));
    getKernels().pack(values as Int8Array | Uint8Array, spec.bytes === 0.5 ? 4 : 2, raw);
  } else {
    raw = new Uint8Array(values.byteLength);
    raw.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  return create(TensorProtoSchema, { name, dataType: onnxDtypeCode(dtype), dims: dims.map((d) => BigInt(d)), rawData: raw });
}

/** A TensorProto whose bytes live in an external file (data_location = EXTERNAL). */
export function makeExternalTensor(name: string, dtype: OnnxDtype, dims: readonly number[], ref: ExternalDataRef): TensorProto {
  const entries = [
    { key: 'location', value: ref.location },
    { key: 'offset', value: String(ref.offset) },
    ...(ref.length === undefined ? [] : [{ key: 'length', value: String(ref.length) }]),
  ].map((e) => create(StringStringEntryProtoSchema, e));
  return create(TensorProtoSchema, { name, dataType: onnxDtypeCode(dtype), dims: dims.map((d) => BigInt(d)), dataLocation: 1, externalData: entries });
}
