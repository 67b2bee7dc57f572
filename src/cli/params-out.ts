import type { QParams } from '../core/qparams.js';
import { zeroPointSafetensorsDtype } from '../formats/params-safetensors.js';
import { SAFETENSORS_DTYPES } from '../formats/safetensors.js';
import type { OutputSet } from '../node/fs/atomic-file.js';
import { encodeParamsFileFor, paramsFileFormat } from '../node/params/params-files.js';

/**
 * Past this many parameters a JSON params file is worth a note: JSON spells each float32 scale in
 * up to 16 characters and, indented, each value on a line of its own (per-block int4 parameters of
 * a 256 MiB tensor: 67 MB of JSON, 10 MB binary).
 */
export const PARAMS_JSON_NOTE_THRESHOLD = 4096;

/**
 * Writes --params-out in the form its name asks for (.json: JSON text, .safetensors: the binary
 * file) into the command's outputs. Returns the note to print once the outputs are committed (so
 * a run that fails still prints one line) when JSON holds more than PARAMS_JSON_NOTE_THRESHOLD
 * parameters: one line naming the binary file. The name the user gave is the format written,
 * never switched silently.
 */
export function writeParamsOut(outputs: OutputSet, path: string, params: QParams, packedShape?: readonly number[]): string | undefined {
  const bytes = encodeParamsFileFor(path, params, packedShape);
  outputs.create(path).write(bytes);
  const n = params.scale.length;
  if (paramsFileFormat(path) !== 'json' || n <= PARAMS_JSON_NOTE_THRESHOLD) return undefined;
  const binary = n * (4 + SAFETENSORS_DTYPES[zeroPointSafetensorsDtype(params.dtype)].bytes);
  const suggested = path.replace(/\.json$/i, '.safetensors');
  return (
    `quantkit: note: --params-out '${path}' holds ${n} parameters as JSON (${megabytes(bytes.length)}); ` +
    `--params-out '${suggested}' writes them as a binary file (${megabytes(binary)}) that --params reads too\n`
  );
}

function megabytes(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}
