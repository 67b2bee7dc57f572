import { QuantError } from '../../core/errors.js';
import { ggmlTypeNamed } from '../../formats/gguf/ggml-type-named.js';
import type { ConvertedTensor } from './convert-gguf-tensors.js';
import { convertGgufTensors, ggmlImplemented } from './convert-gguf-tensors.js';
import { openGgufFile } from './gguf-file.js';
import { quantizedMetadata } from './quantize-gguf-file.js';

/** The float types a model can be dequantized to, with the llama_ftype each file is marked with. */
export const DEQUANTIZE_TARGETS = { F32: 0, F16: 1, BF16: 32 } as const;
export type DequantizeTarget = keyof typeof DEQUANTIZE_TARGETS;

/**
 * Writes every float or quantized tensor of a GGUF model as `target` (integer tensors are copied),
 * in the input's order, with the input's metadata and general.file_type set to the target's.
 */
export function dequantizeGgufFile(input: string, output: string, target: DequantizeTarget, onProgress?: (done: number, total: number) => void): ConvertedTensor[] {
  const type = ggmlTypeNamed(target);
  if (type === undefined || !(target in DEQUANTIZE_TARGETS)) throw new QuantError('INVALID_ARGUMENT', `dequantize to F32, F16 or BF16, got '${target}'`);
  const file = openGgufFile(input);
  try {
    const conversions = file.header.tensors.map((t) => {
      const keep = /^I(8|16|32|64)$/.test(t.type.name);
      if (!keep && !ggmlImplemented(t.type)) throw new QuantError('UNSUPPORTED', `tensor '${t.name}' is ${t.type.name}, which quantkit does not decode`);
      return { tensor: t, dims: t.dims, type: keep ? t.type : type };
    });
    const metadata = quantizedMetadata(file.header.metadata, DEQUANTIZE_TARGETS[target]);
    return convertGgufTensors(file, output, metadata, conversions, { allowRequantize: true, ...(onProgress && { onProgress }) });
  } finally {
    file.close();
  }
}
