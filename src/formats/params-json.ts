import { QuantError } from '../core/errors.js';
import type { QParams } from '../core/qparams.js';
import type { StoredParams } from './params-file.js';
import { decodePackedShape, decodeParamsFile, encodeParamsFile } from './params-file.js';

/*
 * A params file as JSON text: the library's format (params-file.ts) plus, only for packed codes,
 * two keys that undo the packing, since packed codes are a flat uint8 array:
 *   "packed": true, "tensor_shape": [..]  (the shape of the quantized tensor)
 * Without packing the text is exactly the library's format. Large parameters belong in the binary
 * file (params-safetensors.ts): JSON spells each float32 as up to 16 characters.
 */

/** A params file's JSON text (indented, one value a line, with a final newline). */
export function encodeParamsJson(params: QParams, packedShape?: readonly number[]): string {
  const body: Record<string, unknown> = { ...encodeParamsFile(params) };
  if (packedShape) {
    body.packed = true;
    body.tensor_shape = [...packedShape];
  }
  return `${JSON.stringify(body, null, 2)}\n`;
}

/** Reads a JSON-parsed params file (encodeParamsJson's text, parsed), with the packing keys if any; anything else is INVALID_PARAMS naming the field. */
export function decodeStoredParams(json: unknown): StoredParams {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new QuantError('INVALID_PARAMS', `expected a JSON object, got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json}`);
  }
  const { packed, tensor_shape: tensorShape, ...rest } = json as Record<string, unknown>;
  const params = decodeParamsFile(rest);
  const packedShape = decodePackedShape(packed, tensorShape);
  return packedShape ? { params, packedShape } : { params };
}
