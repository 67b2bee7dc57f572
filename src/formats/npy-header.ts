import { QuantError } from '../core/errors.js';
import type { NpyDtype } from './npy-dtype.js';
import { NPY_DTYPES, npyDescrOf, parseNpyDescr } from './npy-dtype.js';
import type { PyValue } from './python-literal.js';
import { parsePythonLiteral, quotePython } from './python-literal.js';

/** What a .npy header says about the data that follows it. */
export interface NpyHeader {
  version: [number, number];
  dtype: NpyDtype;
  littleEndian: boolean;
  fortranOrder: boolean;
  shape: number[];
  /** Bytes before the data: magic, version, length field and the header dict with its padding. */
  dataOffset: number;
  itemSize: number;
  /** product(shape) · itemSize. */
  dataBytes: number;
}

export interface NpyHeaderOptions {
  /** Store the data column-major (default false). */
  fortranOrder?: boolean;
  /** Default true; single-byte dtypes are always written with '|'. */
  littleEndian?: boolean;
  /** Default: 1 unless the header is too long for its 16-bit length field, then 2. */
  version?: 1 | 2 | 3;
}

/** \x93NUMPY */
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
/** numpy's ARRAY_ALIGN: data starts at a multiple of 64 bytes so any dtype can be mapped in place. */
const ARRAY_ALIGN = 64;
/** numpy pads the header so the leading dimension can grow to 21 digits in place. */
const GROWTH_AXIS_MAX_DIGITS = 21;
const EXPECTED_KEYS = ['descr', 'fortran_order', 'shape'];

function malformed(message: string, details?: Record<string, unknown>): QuantError {
  return new QuantError('MALFORMED_FILE', message, details === undefined ? {} : { details });
}

function checkMagic(prefix: Uint8Array): void {
  for (let i = 0; i < Math.min(prefix.length, MAGIC.length); i++) {
    if (prefix[i] !== MAGIC[i]) {
      const seen = Array.from(prefix.subarray(0, MAGIC.length), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw malformed(`not a .npy file: expected the magic bytes 93 4e 55 4d 50 59 (\\x93NUMPY), got ${seen}`);
    }
  }
}

function lengthFieldSize(major: number, minor: number): 2 | 4 {
  if (minor === 0 && major === 1) return 2;
  if (minor === 0 && (major === 2 || major === 3)) return 4;
  throw malformed(`unknown .npy format version ${major}.${minor} (this reader knows 1.0, 2.0 and 3.0)`, {
    version: [major, minor],
  });
}

/**
 * Total header size (= the data offset) from the first 10 (version 1) or 12 (versions 2, 3) bytes.
 * With fewer bytes it throws MALFORMED_FILE with details.needBytes, how many to read first.
 */
export function npyHeaderBytesNeeded(prefix: Uint8Array): number {
  checkMagic(prefix);
  if (prefix.length < 8) {
    throw malformed(`truncated .npy: ${prefix.length} bytes is shorter than the 8-byte magic and version`, {
      needBytes: prefix.length < 8 ? 12 : 8,
    });
  }
  const fieldSize = lengthFieldSize(prefix[6], prefix[7]);
  const fixed = 8 + fieldSize;
  if (prefix.length < fixed) {
    throw malformed(`truncated .npy: the header length field needs ${fixed} bytes, got ${prefix.length}`, {
      needBytes: fixed,
    });
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const len = fieldSize === 2 ? view.getUint16(8, true) : view.getUint32(8, true);
  return fixed + len;
}

function decodeHeaderText(bytes: Uint8Array, major: number): string {
  if (major === 3) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (cause) {
      throw new QuantError('MALFORMED_FILE', 'bad .npy header: version 3.0 header is not valid UTF-8', { cause });
    }
  }
  // Versions 1 and 2 are latin-1: each byte is one code point.
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

function showPy(v: PyValue): string {
  switch (v.kind) {
    case 'str':
      return quotePython(v.value);
    case 'int':
      return v.text;
    case 'bool':
      return v.value ? 'True' : 'False';
    case 'none':
      return 'None';
    case 'tuple':
      return `(${v.items.map(showPy).join(', ')}${v.items.length === 1 ? ',' : ''})`;
    case 'list':
      return `[${v.items.map(showPy).join(', ')}]`;
    case 'dict':
      return `{${[...v.entries].map(([k, x]) => `${quotePython(k)}: ${showPy(x)}`).join(', ')}}`;
  }
}

/**
 * Reads a .npy header from the start of a file. `prefix` must hold at least the whole header
 * (npyHeaderBytesNeeded tells how much); if it does not, MALFORMED_FILE with details.needBytes.
 * The dict must have exactly the keys descr, fortran_order and shape (as numpy requires).
 */
export function parseNpyHeader(prefix: Uint8Array): NpyHeader {
  const dataOffset = npyHeaderBytesNeeded(prefix);
  if (prefix.length < dataOffset) {
    throw malformed(`truncated .npy header: it needs ${dataOffset} bytes, got ${prefix.length}`, { needBytes: dataOffset });
  }
  const major = prefix[6];
  const fixed = 8 + lengthFieldSize(major, prefix[7]);
  const text = decodeHeaderText(prefix.subarray(fixed, dataOffset), major);
  const dict = parsePythonLiteral(text);
  if (dict.kind !== 'dict') throw malformed(`bad .npy header: expected a dict, got ${showPy(dict)}`);
  const keys = [...dict.entries.keys()].sort();
  if (keys.length !== EXPECTED_KEYS.length || keys.some((k, i) => k !== EXPECTED_KEYS[i])) {
    throw malformed(`bad .npy header: expected exactly the keys 'descr', 'fortran_order', 'shape', got ${keys.map(quotePython).join(', ') || 'none'}`);
  }
  const descr = dict.entries.get('descr')!;
  if (descr.kind !== 'str') {
    throw new QuantError('UNSUPPORTED', `unsupported .npy dtype descr ${showPy(descr)}: structured and nested dtypes are not supported`, {
      details: { descr: showPy(descr) },
    });
  }
  const { dtype, littleEndian } = parseNpyDescr(descr.value);
  const fortran = dict.entries.get('fortran_order')!;
  if (fortran.kind !== 'bool') throw malformed(`bad .npy header: fortran_order must be True or False, got ${showPy(fortran)}`);
  const shapeValue = dict.entries.get('shape')!;
  if (shapeValue.kind !== 'tuple') throw malformed(`bad .npy header: shape must be a tuple of integers, got ${showPy(shapeValue)}`);
  const shape = shapeValue.items.map((d) => {
    if (d.kind !== 'int' || !Number.isSafeInteger(d.value) || d.value < 0) {
      throw malformed(`bad .npy header: shape ${showPy(shapeValue)} has an invalid dimension ${showPy(d)}`);
    }
    return d.value;
  });
  const itemSize = NPY_DTYPES[dtype].itemSize;
  // As numpy: the non-zero dimensions must multiply to a size an array could have even when a zero
  // one makes it empty, or (2**60, 2**60, 0) would pass and overflow whoever loops over its axes.
  let nonZeroBytes = itemSize;
  for (const d of shape) if (d !== 0) nonZeroBytes *= d;
  if (!Number.isSafeInteger(nonZeroBytes)) throw malformed(`bad .npy header: shape ${showPy(shapeValue)} is too large`);
  const dataBytes = shape.includes(0) ? 0 : nonZeroBytes;
  return { version: [major, prefix[7]], dtype, littleEndian, fortranOrder: fortran.value, shape, dataOffset, itemSize, dataBytes };
}

function pyShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

function encodeText(text: string, utf8: boolean): Uint8Array {
  if (utf8) return new TextEncoder().encode(text);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/**
 * The header numpy would write for this dtype and shape, byte for byte: the dict with sorted keys,
 * room for the leading axis to grow, then spaces and a newline so the data starts at a multiple of
 * 64 bytes. Version 1 unless the header needs the 32-bit length of version 2.
 */
export function encodeNpyHeader(dtype: NpyDtype, shape: readonly number[], opts: NpyHeaderOptions = {}): Uint8Array {
  if (!Object.prototype.hasOwnProperty.call(NPY_DTYPES, dtype)) {
    throw new QuantError('INVALID_ARGUMENT', `unknown .npy dtype '${String(dtype)}': expected one of ${Object.keys(NPY_DTYPES).join(', ')}`);
  }
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new QuantError('SHAPE_MISMATCH', `shape [${shape.join(', ')}] has an invalid dimension ${d}`);
    }
  }
  const fortranOrder = opts.fortranOrder ?? false;
  let dict = `{'descr': '${npyDescrOf(dtype, opts.littleEndian ?? true)}', 'fortran_order': ${fortranOrder ? 'True' : 'False'}, 'shape': ${pyShape(shape)}, }`;
  if (shape.length > 0) {
    const growing = shape[fortranOrder ? shape.length - 1 : 0];
    dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(growing).length));
  }
  const body = encodeText(dict, opts.version === 3);
  const version = opts.version ?? (wrapLength(body.length, 2) <= 0xffff ? 1 : 2);
  if (version !== 1 && version !== 2 && version !== 3) {
    throw new QuantError('INVALID_ARGUMENT', `.npy version must be 1, 2 or 3, got ${String(version)}`);
  }
  const fieldSize = version === 1 ? 2 : 4;
  const headerLen = wrapLength(body.length, fieldSize);
  if (fieldSize === 2 && headerLen > 0xffff) {
    throw new QuantError('INVALID_ARGUMENT', `a .npy header of ${headerLen} bytes is too long for version 1 (at most 65535); use version 2`);
  }
  const out = new Uint8Array(8 + fieldSize + headerLen);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (fieldSize === 2) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  out.set(body, 8 + fieldSize);
  out.fill(0x20, 8 + fieldSize + body.length, out.length - 1);
  out[out.length - 1] = 0x0a;
  return out;
}

/** Length of the dict plus its space padding and newline, so magic + field + it is a multiple of 64. */
function wrapLength(bodyLen: number, fieldSize: 2 | 4): number {
  const hlen = bodyLen + 1;
  const pad = ARRAY_ALIGN - ((8 + fieldSize + hlen) % ARRAY_ALIGN);
  return hlen + pad;
}
