import { QuantError } from '../core/errors.js';
import { oneLine } from './one-line.js';
import type { SafetensorsDtype } from './safetensors-dtype.js';
import { byteSize, isDtype, KNOWN } from './safetensors-dtype.js';

/*
 * safetensors (Hugging Face): a little-endian u64 N, then N bytes of UTF-8 JSON
 *   {"__metadata__": {string: string}?, name: {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * then the data buffer, which starts at byte 8 + N; offsets count from there, tensors are C-order,
 * little-endian. Writers pad the JSON with spaces so that 8 + N is a multiple of 8.
 */

/** The reference reader refuses headers longer than this many bytes. */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

/** One tensor of a header; `begin` and `end` are byte offsets within the data buffer. */
export interface SafetensorsTensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  /** Sorted by begin (file order); tensors of 0 bytes sharing an offset are in name order. */
  readonly tensors: readonly SafetensorsTensorInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  /** 8 + N: the file offset of the data buffer. */
  readonly dataStart: number;
}

export interface SafetensorsTensorSpec {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
}

const METADATA_KEY = '__metadata__';

function malformed(message: string, cause?: unknown): QuantError {
  return new QuantError('MALFORMED_FILE', message, cause === undefined ? {} : { cause });
}

/** An INVALID_ARGUMENT error: the caller passed a bad value. */
export function invalid(message: string): QuantError {
  return new QuantError('INVALID_ARGUMENT', message);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON value as a short one-line text, for messages. */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(v);
  } catch {
    // Nesting deeper than the stack (a crafted header of 200,000 '[') is still only a bad value.
    text = Array.isArray(v) ? '[[[...' : '{...';
  }
  return oneLine(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}

/** A shape as text for messages, e.g. [2, 3]. */
export const showShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

function checkFileSize(fileSize: number): void {
  if (!Number.isSafeInteger(fileSize) || fileSize < 0) {
    throw invalid(`fileSize must be a non-negative integer, got ${fileSize}`);
  }
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * N, the header's byte length, from the first 8 bytes (a little-endian u64) of a file of fileSize
 * bytes. MALFORMED_FILE when the file is shorter than 8 bytes, N exceeds SAFETENSORS_MAX_HEADER, or
 * 8 + N exceeds the file. Example: bytes 40 00 00 00 00 00 00 00 → 64, data from byte 72.
 */
export function safetensorsHeaderSize(first8: Uint8Array, fileSize: number): number {
  checkFileSize(fileSize);
  if (fileSize < 8) {
    throw malformed(`not a safetensors file: it has ${fileSize} bytes, fewer than the 8 of its header size field`);
  }
  if (first8.length < 8) throw invalid(`first8 must hold the file's first 8 bytes, got ${first8.length}`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
  if (n > SAFETENSORS_MAX_HEADER) {
    throw malformed(`header size ${view.getBigUint64(0, true)} is more than the ${SAFETENSORS_MAX_HEADER} bytes a safetensors header may have`);
  }
  if (8 + n > fileSize) {
    throw malformed(`header size ${n} needs a file of at least ${8 + n} bytes, but the file has ${fileSize}`);
  }
  return n;
}

/**
 * The raw text of each key of the outermost object in a JSON text JSON.parse has accepted,
 * duplicates kept (JSON.parse silently keeps the last of a duplicated key).
 */
function rawTopLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      for (let q = text.charCodeAt(j); q !== 0x22; q = text.charCodeAt(j)) j += q === 0x5c ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(text.slice(i, j + 1));
      expectKey = false;
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth === 1) expectKey = true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2c && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

function checkNoDuplicates(text: string, root: Record<string, unknown>): void {
  const raw = rawTopLevelKeys(text);
  if (raw.length === Object.keys(root).length) return;
  const seen = new Set<string>();
  for (const r of raw) {
    const key = JSON.parse(r) as string;
    if (seen.has(key)) throw malformed(`header: the key '${oneLine(key)}' appears more than once`);
    seen.add(key);
  }
}

function parseMetadata(value: unknown): Record<string, string> {
  // The reference reads `"__metadata__": null` as no metadata.
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw malformed(`header: __metadata__ must be an object of strings, got ${show(value)}`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw malformed(`header: __metadata__ '${oneLine(k)}' must be a string, got ${show(v)}`);
  }
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

function parseTensor(name: string, info: unknown): SafetensorsTensorInfo {
  if (!isRecord(info)) {
    throw malformed(`tensor '${oneLine(name)}': expected an object with dtype, shape and data_offsets, got ${show(info)}`);
  }
  const { dtype, shape, data_offsets: offsets } = info;
  if (!isDtype(dtype)) {
    throw malformed(
      typeof dtype === 'string'
        ? `tensor '${oneLine(name)}': unknown dtype '${oneLine(dtype)}' (known: ${KNOWN.join(', ')})`
        : `tensor '${oneLine(name)}': dtype must be a string, got ${show(dtype)}`,
    );
  }
  // JSON.parse cannot tell 2.0 from 2, so an integral float dimension passes (the reference refuses it).
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw malformed(`tensor '${oneLine(name)}': shape must be an array of non-negative integers, got ${show(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw malformed(`tensor '${oneLine(name)}': data_offsets must be [begin, end], two non-negative integers, got ${show(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw malformed(`tensor '${oneLine(name)}': data_offsets [${begin}, ${end}] end before they begin`);
  const nbytes = byteSize(dtype, shape);
  if (nbytes === undefined) {
    throw malformed(`tensor '${oneLine(name)}': ${dtype} ${showShape(shape)} would need more than 2^53 bytes`);
  }
  if (end - begin !== nbytes) {
    throw malformed(`tensor '${oneLine(name)}': data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} ${showShape(shape)} needs ${nbytes}`);
  }
  return { name, dtype, shape: shape.slice(), begin, end };
}

/**
 * Parses and validates the JSON header (the N bytes after the first 8) of a file of fileSize
 * bytes. The data buffer is bytes [8 + N, fileSize); sorted by begin, the tensors must tile it
 * exactly: the first begins at 0, each begins where the previous ends, the last ends at its end.
 * Every violation is a MALFORMED_FILE naming the tensor, e.g.
 * "tensor 'w': data_offsets [0, 12] hold 12 bytes, but F32 [2, 2] needs 16".
 */
export function parseSafetensorsHeader(json: Uint8Array, fileSize: number): SafetensorsHeader {
  checkFileSize(fileSize);
  const dataStart = 8 + json.length;
  if (json.length > SAFETENSORS_MAX_HEADER) {
    throw malformed(`header size ${json.length} is more than the ${SAFETENSORS_MAX_HEADER} bytes a safetensors header may have`);
  }
  if (dataStart > fileSize) {
    throw malformed(`header size ${json.length} needs a file of at least ${dataStart} bytes, but the file has ${fileSize}`);
  }
  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, so JSON.parse refuses it as the reference does.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(json);
  } catch (cause) {
    throw malformed('header is not valid UTF-8', cause);
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    // V8 quotes the text around the error, line breaks included.
    throw malformed(`header is not valid JSON (${json.length} bytes): ${oneLine(why)}`, cause);
  }
  if (!isRecord(root)) throw malformed(`header must be a JSON object, got ${show(root)}`);
  checkNoDuplicates(text, root);

  const metadata = parseMetadata(root[METADATA_KEY]);
  const tensors = Object.entries(root)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, info]) => parseTensor(name, info))
    .sort((a, b) => a.begin - b.begin || a.end - b.end || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const dataLength = fileSize - dataStart;
  let prev: SafetensorsTensorInfo | undefined;
  for (const t of tensors) {
    const at = prev?.end ?? 0;
    const where = `tensor '${oneLine(t.name)}': data_offsets [${t.begin}, ${t.end}]`;
    if (t.begin > at) {
      throw malformed(
        prev === undefined
          ? `${where} leave a hole: the first tensor must begin at 0`
          : `${where} leave a hole of ${t.begin - at} bytes after tensor '${oneLine(prev.name)}', which ends at ${at}`,
      );
    }
    if (t.begin < at) throw malformed(`${where} overlap tensor '${oneLine(prev!.name)}' [${prev!.begin}, ${prev!.end}]`);
    if (t.end > dataLength) {
      throw malformed(`${where} end past the data buffer, which holds ${dataLength} bytes (file of ${fileSize} bytes, data from byte ${dataStart})`);
    }
    prev = t;
  }
  const end = prev?.end ?? 0;
  if (end !== dataLength) {
    throw malformed(`the tensors end at byte ${end} of the data buffer, but it holds ${dataLength} bytes: ${dataLength - end} trailing bytes`);
  }
  return { tensors, metadata, dataStart };
}

function headerTooLong(size: string): QuantError {
  return invalid(`the header would be ${size} bytes, more than the ${SAFETENSORS_MAX_HEADER} safetensors readers accept`);
}

// A lone surrogate would be written as a \udxxx escape that the reference reader refuses.
const LONE_SURROGATE = /\p{Cs}/u;

function checkText(what: string, s: string): void {
  if (LONE_SURROGATE.test(s)) throw invalid(`${what} ${show(s)} has a lone UTF-16 surrogate, which UTF-8 cannot hold`);
}

/** Validates tensor specs for writing and returns each one's byte size; bad specs → INVALID_ARGUMENT. */
export function checkSpecs(specs: readonly SafetensorsTensorSpec[]): number[] {
  if (!Array.isArray(specs)) throw invalid(`tensors must be an array of { name, dtype, shape }, got ${typeof specs}`);
  const seen = new Set<string>();
  let nameUnits = 0;
  return specs.map((s, i) => {
    const { name, dtype, shape } = s;
    if (typeof name !== 'string' || name === '') throw invalid(`tensor ${i}: name must be a non-empty string, got ${show(name)}`);
    if (name === METADATA_KEY) throw invalid(`tensor ${i}: '${METADATA_KEY}' is the header's metadata key, not a tensor name`);
    // UTF-8 takes at least a byte per UTF-16 unit: fails fast, before building a text this long.
    nameUnits += name.length;
    if (nameUnits > SAFETENSORS_MAX_HEADER) throw headerTooLong(`more than ${SAFETENSORS_MAX_HEADER}`);
    checkText(`tensor ${i}: name`, name);
    if (seen.has(name)) throw invalid(`tensor '${name}' is given more than once (names must be unique)`);
    seen.add(name);
    if (!isDtype(dtype)) throw invalid(`tensor '${name}': unknown dtype ${show(dtype)} (known: ${KNOWN.join(', ')})`);
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw invalid(`tensor '${name}': shape must be an array of non-negative integers, got ${show(shape)}`);
    }
    const n = byteSize(dtype, shape);
    if (n === undefined) throw invalid(`tensor '${name}': ${dtype} ${showShape(shape)} would need more than 2^53 bytes`);
    return n;
  });
}

function checkMetadata(metadata: Readonly<Record<string, string>>): void {
  if (!isRecord(metadata)) throw invalid(`metadata must be an object of strings, got ${show(metadata)}`);
  let units = 0;
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw invalid(`metadata '${k}' must be a string, got ${show(v)}`);
    units += k.length + v.length;
    if (units > SAFETENSORS_MAX_HEADER) throw headerTooLong(`more than ${SAFETENSORS_MAX_HEADER}`);
    checkText('metadata key', k);
    checkText(`metadata '${k}'`, v);
  }
}

/**
 * The file's first 8 + N bytes for tensors laid out in the given order (data_offsets consecutive
 * from 0), with `__metadata__` first when metadata is given. The JSON is compact, as the
 * reference writes it, and padded with spaces so that 8 + N is a multiple of 8; with
 * sortSafetensorsSpecs first, the bytes equal the reference writer's (metadata of at most one key:
 * it writes more in random order). Bad specs or metadata → INVALID_ARGUMENT.
 * Example: one F32 [2] tensor 'a' → 54 bytes of JSON and 2 spaces, N = 56, offsets [{ begin: 0, end: 8 }], dataLength 8.
 */
export function encodeSafetensorsHeader(
  specs: readonly SafetensorsTensorSpec[],
  metadata?: Readonly<Record<string, string>>,
): { readonly bytes: Uint8Array; readonly offsets: readonly { readonly begin: number; readonly end: number }[]; readonly dataLength: number } {
  const sizes = checkSpecs(specs);
  const parts: string[] = [];
  if (metadata !== undefined) {
    checkMetadata(metadata);
    parts.push(`"${METADATA_KEY}":${JSON.stringify(metadata)}`);
  }
  const offsets: { begin: number; end: number }[] = [];
  let at = 0;
  specs.forEach((s, i) => {
    offsets.push({ begin: at, end: at + sizes[i] });
    parts.push(`${JSON.stringify(s.name)}:{"dtype":"${s.dtype}","shape":[${s.shape.join(',')}],"data_offsets":[${at},${at + sizes[i]}]}`);
    at += sizes[i];
  });
  if (!Number.isSafeInteger(at)) throw invalid(`the tensors need ${at} bytes in all, more than 2^53`);
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = json.length + ((8 - (json.length % 8)) % 8);
  if (n > SAFETENSORS_MAX_HEADER) throw headerTooLong(String(n));
  const bytes = new Uint8Array(8 + n).fill(0x20, 8 + json.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, n, true);
  view.setUint32(4, 0, true);
  bytes.set(json, 8);
  return { bytes, offsets, dataLength: at };
}
