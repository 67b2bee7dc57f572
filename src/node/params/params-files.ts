import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { QuantError } from '../../core/errors.js';
import type { QParams } from '../../core/qparams.js';
import type { StoredParams } from '../../formats/params-file.js';
import { decodeStoredParams, encodeParamsJson } from '../../formats/params-json.js';
import { decodeParamsSafetensors, encodeParamsSafetensors } from '../../formats/params-safetensors.js';
import { describeFsError } from '../fs/fs-error.js';

/** The two forms of a params file: JSON text, or the binary safetensors file for large parameters. */
export type ParamsFileFormat = 'json' | 'safetensors';

/** The form a params file's name asks for: `.safetensors` is the binary file, any other name JSON. */
export function paramsFileFormat(path: string): ParamsFileFormat {
  return extname(path).toLowerCase() === '.safetensors' ? 'safetensors' : 'json';
}

/** The bytes of a params file in the form its name asks for (paramsFileFormat). */
export function encodeParamsFileFor(path: string, params: QParams, packedShape?: readonly number[]): Uint8Array {
  return paramsFileFormat(path) === 'safetensors' ? encodeParamsSafetensors(params, packedShape) : new TextEncoder().encode(encodeParamsJson(params, packedShape));
}

/**
 * Reads a params file, JSON or binary by its name (paramsFileFormat). A file that cannot be read
 * is IO_ERROR; one that is not a params file is INVALID_PARAMS or MALFORMED_FILE, every message
 * one line naming the file: "parameters file 'w.json': params.scale[3]: expected a positive finite number, got -1".
 */
export function readParamsFile(path: string): StoredParams {
  const format = paramsFileFormat(path);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new QuantError('IO_ERROR', `cannot read parameters '${path}': ${describeFsError(e)}`, { cause: e });
  }
  if (format === 'safetensors') return named(path, () => decodeParamsSafetensors(bytes));
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    const hint = looksLikeSafetensors(bytes) ? ` (it looks like a binary params file: name it .safetensors)` : '';
    throw new QuantError('INVALID_PARAMS', `parameters file '${path}' is not valid JSON${hint}: ${(e as Error).message}`, { cause: e });
  }
  return named(path, () => decodeStoredParams(json));
}

function named<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof QuantError) throw new QuantError(e.code, `parameters file '${path}': ${e.message}`, { cause: e, details: e.details });
    throw e;
  }
}

/** Whether bytes begin as a safetensors file does: a little-endian header length that fits, then '{'. */
function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getUint32(4, true) === 0 && view.getUint32(0, true) + 8 <= bytes.length && bytes[8] === 0x7b;
}
