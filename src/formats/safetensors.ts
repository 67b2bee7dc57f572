import { bfloat16BitsToFloat32Bits } from '../core/bfloat16.js';
import { QuantError } from '../core/errors.js';
import { float16BitsToFloat32Bits } from '../core/float16.js';
import type { SafetensorsDtype } from './safetensors-dtype.js';
import { isDtype, KNOWN, RANK, SAFETENSORS_DTYPES } from './safetensors-dtype.js';
import type { SafetensorsHeader, SafetensorsTensorSpec } from './safetensors-header.js';
import {
  checkSpecs,
  encodeSafetensorsHeader,
  invalid,
  parseSafetensorsHeader,
  safetensorsHeaderSize,
  show,
  showShape,
} from './safetensors-header.js';

export type { SafetensorsDtype } from './safetensors-dtype.js';
export { SAFETENSORS_DTYPES } from './safetensors-dtype.js';
export type { SafetensorsHeader, SafetensorsTensorInfo, SafetensorsTensorSpec } from './safetensors-header.js';
export {
  encodeSafetensorsHeader,
  parseSafetensorsHeader,
  SAFETENSORS_MAX_HEADER,
  safetensorsHeaderSize,
} from './safetensors-header.js';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A whole file in memory: its header, and each tensor's bytes as a view into `bytes` (no copy;
 * the view may be unaligned, so read it with a DataView or floatTensorToFloat32).
 * tensorBytes of a name the file does not have → INVALID_ARGUMENT.
 */
export function decodeSafetensors(bytes: Uint8Array): { readonly header: SafetensorsHeader; tensorBytes(name: string): Uint8Array } {
  const n = safetensorsHeaderSize(bytes, bytes.length);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length);
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  return {
    header,
    tensorBytes(name: string): Uint8Array {
      const t = byName.get(name);
      if (t === undefined) {
        const names = header.tensors.slice(0, 8).map((x) => `'${x.name}'`).join(', ');
        const more = header.tensors.length > 8 ? `, ... (${header.tensors.length} in all)` : '';
        throw invalid(`no tensor named '${name}' in this file (it has ${names || 'none'}${more})`);
      }
      return bytes.subarray(header.dataStart + t.begin, header.dataStart + t.end);
    },
  };
}

/**
 * A whole file: encodeSafetensorsHeader's bytes, then each tensor's data in the given order.
 * Each `data` must hold exactly product(shape) · dtype size bytes → INVALID_ARGUMENT otherwise.
 */
export function encodeSafetensors(
  tensors: readonly (SafetensorsTensorSpec & { readonly data: Uint8Array })[],
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const header = encodeSafetensorsHeader(tensors, metadata);
  tensors.forEach((t, i) => {
    const need = header.offsets[i].end - header.offsets[i].begin;
    if (!(t.data instanceof Uint8Array)) throw invalid(`tensor '${t.name}': data must be a Uint8Array, got ${show(t.data)}`);
    if (t.data.length !== need) {
      throw invalid(`tensor '${t.name}': data has ${t.data.length} bytes, but ${t.dtype} ${showShape(t.shape)} needs ${need}`);
    }
  });
  const out = new Uint8Array(header.bytes.length + header.dataLength);
  out.set(header.bytes);
  tensors.forEach((t, i) => out.set(t.data, header.bytes.length + header.offsets[i].begin));
  return out;
}

/** Compares strings by code point, which is the byte order of their UTF-8 (Rust's String order). */
function compareCodePoints(a: string, b: string): number {
  // Equal code points have equal UTF-16 widths, so one index serves both strings.
  for (let i = 0; i < a.length && i < b.length; ) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

/**
 * A copy of the specs in the order the reference writer lays tensors out: by dtype, widest-first
 * in the reverse of its enum order (U64, I64, F64, F32, U32, I32, BF16, F16, U16, I16, F8_E4M3,
 * F8_E5M2, I8, U8, BOOL), then by name in UTF-8 byte order. Encoding in this order reproduces the
 * reference's bytes and keeps every tensor aligned to its element size.
 */
export function sortSafetensorsSpecs<T extends SafetensorsTensorSpec>(specs: readonly T[]): T[] {
  checkSpecs(specs);
  return specs.slice().sort((a, b) => RANK.get(b.dtype)! - RANK.get(a.dtype)! || compareCodePoints(a.name, b.name));
}

/** float64 bits → float32 bits of its NaN: sign, quiet bit and the top 23 payload bits (as x86 cvtsd2ss, numpy's astype). */
function nanBits(hi: number, lo: number): number {
  return ((hi & 0x80000000) | 0x7fc00000 | ((hi & 0xfffff) << 3) | (lo >>> 29)) >>> 0;
}

/**
 * Widens a tensor's little-endian bytes (any alignment) to float32: F16 and BF16 exactly (a
 * signalling NaN comes out quiet), F32 bit for bit, F64 rounded to nearest, ties to even, as
 * numpy's astype(np.float32) (NaN keeps its sign and payload top, quieted). Other dtypes →
 * UNSUPPORTED; a byte length that is not a whole number of elements, or an `out` of the wrong
 * length → INVALID_ARGUMENT. `out` must not overlap `bytes`.
 * Example: F16 bytes 00 3c 01 00 → [1, 2^-24].
 */
export function floatTensorToFloat32(dtype: SafetensorsDtype, bytes: Uint8Array, out?: Float32Array): Float32Array {
  if (!isDtype(dtype)) throw invalid(`unknown dtype ${show(dtype)} (known: ${KNOWN.join(', ')})`);
  if (!SAFETENSORS_DTYPES[dtype].float) {
    throw new QuantError('UNSUPPORTED', `floatTensorToFloat32 reads F16, BF16, F32 and F64, not ${dtype}`);
  }
  const size = SAFETENSORS_DTYPES[dtype].bytes;
  if (bytes.length % size !== 0) {
    throw invalid(`${bytes.length} bytes is not a whole number of ${dtype} elements (${size} bytes each)`);
  }
  const n = bytes.length / size;
  if (out !== undefined && out.length !== n) {
    throw invalid(`out has ${out.length} elements, but ${bytes.length} bytes of ${dtype} hold ${n}`);
  }
  const result = out ?? new Float32Array(n);
  // Written through integer bits where NaN payloads matter: a float store may canonicalise them.
  const bits = new Uint32Array(result.buffer, result.byteOffset, n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      if (LITTLE_ENDIAN_HOST) new Uint8Array(result.buffer, result.byteOffset, bytes.length).set(bytes);
      else for (let i = 0; i < n; i++) bits[i] = view.getUint32(4 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) bits[i] = float16BitsToFloat32Bits(bytes[2 * i] | (bytes[2 * i + 1] << 8));
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) bits[i] = bfloat16BitsToFloat32Bits(bytes[2 * i] | (bytes[2 * i + 1] << 8));
      break;
    case 'F64':
      for (let i = 0; i < n; i++) {
        const v = view.getFloat64(8 * i, true);
        if (v === v) result[i] = v;
        else bits[i] = nanBits(view.getUint32(8 * i + 4, true), view.getUint32(8 * i, true));
      }
      break;
  }
  return result;
}
