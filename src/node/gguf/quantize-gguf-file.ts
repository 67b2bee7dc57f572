import { QuantError } from '../../core/errors.js';
import type { ImatrixData } from '../../formats/gguf/imatrix.js';
import type { LlamaQuantOptions } from '../../formats/gguf/llama-quant-plan.js';
import { LLAMA_MIXES, planLlamaQuantization, requiresImatrix } from '../../formats/gguf/llama-quant-plan.js';
import type { GgufValue } from '../../formats/gguf/gguf-value.js';
import type { ConvertedTensor, TensorConversion } from './convert-gguf-tensors.js';
import { convertGgufTensors } from './convert-gguf-tensors.js';
import { openGgufFile } from './gguf-file.js';

/** llama.cpp's GGML_QNT_VERSION, which llama-quantize writes to general.quantization_version. */
export const GGML_QNT_VERSION = 2;

export interface QuantizeGgufOptions extends Omit<LlamaQuantOptions, 'hasImatrix'> {
  /** Importance per column of each weight tensor, by tensor name (see readImatrixFile). */
  readonly imatrix?: ImatrixData;
  readonly allowRequantize?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface QuantizeGgufReport {
  readonly mix: string;
  readonly tensors: readonly (ConvertedTensor & { readonly fallback: boolean; readonly imatrix: boolean })[];
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  readonly elements: number;
}

/** The metadata llama-quantize writes: the input's keys in order, split keys dropped, then the quantization version and file type. */
export function quantizedMetadata(input: ReadonlyMap<string, GgufValue>, ftype: number): Map<string, GgufValue> {
  const out = new Map(input);
  for (const k of ['split.no', 'split.count', 'split.tensors.count', 'general.quantization_version', 'general.file_type']) out.delete(k);
  out.set('general.quantization_version', { type: 'u32', value: GGML_QNT_VERSION });
  out.set('general.file_type', { type: 'u32', value: ftype });
  return out;
}

/**
 * Quantizes a GGUF model file as llama.cpp's llama-quantize does: each tensor's type from the mix's
 * rules (planLlamaQuantization), the tensors in llama.cpp's order, the same metadata, and each
 * tensor quantized by quantkit's ggml kernels, so the output file is byte for byte llama-quantize's.
 * Reads and writes one slab of rows at a time.
 */
export function quantizeGgufFile(input: string, output: string, options: QuantizeGgufOptions): QuantizeGgufReport {
  const file = openGgufFile(input);
  try {
    for (const [name, v] of options.imatrix ?? []) {
      if (v.some((x) => !Number.isFinite(x))) throw new QuantError('INVALID_ARGUMENT', `the importance matrix of '${name}' holds a value that is not finite`);
    }
    const hasImatrix = options.imatrix !== undefined;
    const plan = planLlamaQuantization(file.header.metadata, file.header.tensors, { ...options, hasImatrix });
    const used = new Set<string>();
    const conversions: (TensorConversion & { fallback: boolean })[] = plan.map((p) => {
      const quantized = p.type !== p.tensor.type;
      let imatrix = quantized ? options.imatrix?.get(p.tensor.name) : undefined;
      if (imatrix !== undefined) {
        const want = (p.tensor.dims[0] ?? 1) * (p.tensor.dims[2] ?? 1);
        if (imatrix.length !== want) {
          // llama.cpp lets token_embd go (its imatrix never fits); any other mismatch is a wrong file.
          if (p.tensor.name !== 'token_embd.weight' && p.tensor.name !== 'per_layer_token_embd.weight') {
            throw new QuantError('INVALID_ARGUMENT', `the importance matrix has ${imatrix.length} values for '${p.tensor.name}', which needs ${want}`);
          }
          imatrix = undefined;
        }
      }
      if (imatrix) used.add(p.tensor.name);
      if (quantized && !imatrix && requiresImatrix(p.tensor.name, p.type, options.mix)) {
        throw new QuantError('INVALID_ARGUMENT', `${options.mix} quantizes '${p.tensor.name}' to ${p.type.name}, which needs an importance matrix (--imatrix)`);
      }
      return { tensor: p.tensor, dims: p.dims, type: p.type, fallback: p.fallback, ...(imatrix && { imatrix }) };
    });
    const metadata = quantizedMetadata(file.header.metadata, LLAMA_MIXES[options.mix].ftype);
    const report = convertGgufTensors(file, output, metadata, conversions, {
      ...(options.onProgress && { onProgress: options.onProgress }),
      ...(options.allowRequantize !== undefined && { allowRequantize: options.allowRequantize }),
    });
    return {
      mix: options.mix,
      tensors: report.map((r, i) => ({ ...r, fallback: conversions[i]!.fallback, imatrix: used.has(r.name) })),
      bytesBefore: report.reduce((s, r) => s + r.bytesBefore, 0),
      bytesAfter: report.reduce((s, r) => s + r.bytesAfter, 0),
      elements: file.header.tensors.reduce((s, t) => s + t.elements, 0),
    };
  } finally {
    file.close();
  }
}
