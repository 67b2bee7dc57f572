import { readFileSync } from 'node:fs';
import { QuantError } from '../core/errors.js';
import type { QParams } from '../core/qparams.js';
import { decodeParamsFile, encodeParamsFile } from '../formats/params-file.js';
import { describeFsError } from '../node/fs-error.js';

/**
 * The CLI's parameters file is the library's (formats/params-file.ts) plus, only for packed codes,
 * two keys the CLI needs to undo the packing, since a packed file is a flat uint8 array:
 *   "packed": true, "tensor_shape": [..]  (the shape of the quantized tensor)
 * Without --pack the file is exactly the library's format.
 */
export interface CliParams {
  readonly params: QParams;
  /** Set when the codes were written packed: the shape of the tensor they encode. */
  readonly packedShape?: readonly number[];
}

export function paramsJsonText(params: QParams, packedShape?: readonly number[]): string {
  const body: Record<string, unknown> = { ...encodeParamsFile(params) };
  if (packedShape) {
    body.packed = true;
    body.tensor_shape = [...packedShape];
  }
  return `${JSON.stringify(body, null, 2)}\n`;
}

export function readParamsJson(path: string): CliParams {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new QuantError('IO_ERROR', `cannot read parameters '${path}': ${describeFsError(e)}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new QuantError('INVALID_PARAMS', `parameters file '${path}' is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  try {
    return parseCliParams(json);
  } catch (e) {
    if (e instanceof QuantError) throw new QuantError(e.code, `parameters file '${path}': ${e.message}`, { cause: e, details: e.details });
    throw e;
  }
}

export function parseCliParams(json: unknown): CliParams {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new QuantError('INVALID_PARAMS', `expected a JSON object, got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json}`);
  }
  const { packed, tensor_shape: tensorShape, ...rest } = json as Record<string, unknown>;
  const params = decodeParamsFile(rest);
  if (packed === undefined || packed === false) return { params };
  if (packed !== true) throw new QuantError('INVALID_PARAMS', `"packed" must be true or false, got ${JSON.stringify(packed)}`);
  if (!Array.isArray(tensorShape) || tensorShape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new QuantError('INVALID_PARAMS', `packed codes need "tensor_shape", an array of non-negative integers, got ${JSON.stringify(tensorShape)}`);
  }
  return { params, packedShape: tensorShape as number[] };
}
