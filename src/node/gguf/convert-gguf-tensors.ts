import { QuantError } from '../../core/errors.js';
import { dequantizeGgml, quantizeGgml } from '../../core/ggml/index.js';
import type { GgmlType } from '../../core/ggml/index.js';
import type { GgmlTypeInfo } from '../../core/ggml/index.js';
import { encodeGgufHeader } from '../../formats/gguf/encode-gguf-header.js';
import type { GgufTensorInfo } from '../../formats/gguf/gguf-header.js';
import type { GgufValue } from '../../formats/gguf/gguf-value.js';
import type { GgufFile } from './gguf-file.js';
import { GgufFileWriter } from './gguf-file-writer.js';

/** One tensor of the output: which input tensor, its dims as written, and its new type. */
export interface TensorConversion {
  readonly tensor: GgufTensorInfo;
  readonly dims: readonly number[];
  readonly type: GgmlTypeInfo;
  /** Per column (per expert: ne0 x ne2 values) importance, for types that use it. */
  readonly imatrix?: Float32Array;
}

export interface ConvertedTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly from: string;
  readonly to: string;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

export interface ConvertOptions {
  /** Called after each slab of rows with bytes of the input done and the total. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Quantized input tensors may be dequantized and quantized again (llama-quantize --allow-requantize). */
  readonly allowRequantize?: boolean;
  /** Largest slab of rows converted at once, in float32 bytes (default 64 MiB). */
  readonly slabBytes?: number;
}

const FLOAT_SOURCES = new Set(['F32', 'F16', 'BF16']);

/** Whether quantkit's ggml kernels read and write a type. */
export function ggmlImplemented(type: GgmlTypeInfo): boolean {
  return type.quantize;
}

function toFloat32(bytes: Uint8Array, type: GgmlTypeInfo, n: number, name: string): Float32Array {
  const x = dequantizeGgml(bytes, type.name as GgmlType, n);
  // llama.cpp loads the model with its data checked: a NaN or infinity in a weight stops the run.
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) throw new QuantError('NAN_INPUT', `tensor '${name}' holds a ${Number.isNaN(x[i]!) ? 'NaN' : 'infinity'} at element ${i}`);
  }
  return x;
}

/**
 * Writes `output`: `metadata` and the tensors of `conversions` in that order, each read from
 * `input` a slab of rows at a time, turned to float32 and encoded in its new type (or copied when
 * the type does not change). Memory holds one slab, never the model. The output appears only when
 * complete.
 */
export function convertGgufTensors(input: GgufFile, output: string, metadata: ReadonlyMap<string, GgufValue>, conversions: readonly TensorConversion[], options: ConvertOptions = {}): ConvertedTensor[] {
  for (const c of conversions) {
    if (c.type === c.tensor.type) continue;
    if (!ggmlImplemented(c.type)) throw new QuantError('UNSUPPORTED', `tensor '${c.tensor.name}': quantkit does not write ggml type ${c.type.name}`);
    if (!ggmlImplemented(c.tensor.type)) throw new QuantError('UNSUPPORTED', `tensor '${c.tensor.name}': quantkit does not read ggml type ${c.tensor.type.name}`);
    if (!FLOAT_SOURCES.has(c.tensor.type.name) && !options.allowRequantize) {
      throw new QuantError('INVALID_ARGUMENT', `tensor '${c.tensor.name}' is already ${c.tensor.type.name}: requantizing loses accuracy, and is done only when asked (--allow-requantize)`);
    }
  }
  const layout = encodeGgufHeader(
    metadata,
    conversions.map((c) => ({ name: c.tensor.name, dims: c.dims, type: c.type })),
  );
  const total = conversions.reduce((s, c) => s + c.tensor.byteLength, 0);
  const slabBytes = options.slabBytes ?? 64 * 1024 * 1024;
  let done = 0;
  const writer = new GgufFileWriter(output, layout);
  const report: ConvertedTensor[] = [];
  try {
    conversions.forEach((c, k) => {
      const t = c.tensor;
      const rowLength = t.dims[0] ?? 1;
      const rows = rowLength === 0 ? 0 : t.elements / rowLength;
      const srcRow = (rowLength / t.type.blockSize) * t.type.typeSize;
      const rowsPerExpert = t.dims[1] ?? 1;
      // Slabs never cross an expert: each expert has its own slice of the importance matrix.
      const rowsPerSlab = Math.max(1, Math.min(rowsPerExpert, Math.floor(slabBytes / Math.max(1, rowLength * 4))));
      for (let r = 0; r < rows; ) {
        const expert = Math.floor(r / rowsPerExpert);
        const n = Math.min(rowsPerSlab, rows - r, (expert + 1) * rowsPerExpert - r);
        const src = input.readTensor(t, r * srcRow, n * srcRow);
        if (c.type === t.type) writer.write(src);
        else {
          const x = toFloat32(src, t.type, n * rowLength, t.name);
          const imatrix = c.imatrix?.subarray(expert * rowLength, (expert + 1) * rowLength);
          writer.write(quantizeGgml(x, c.type.name as GgmlType, imatrix ? { imatrix } : {}));
        }
        r += n;
        done += n * srcRow;
        options.onProgress?.(done, total);
      }
      if (rows === 0) writer.write(new Uint8Array(0));
      report.push({ name: t.name, dims: c.dims, from: t.type.name, to: c.type.name, bytesBefore: t.byteLength, bytesAfter: layout.header.tensors[k]!.byteLength });
    });
    writer.commit();
  } catch (e) {
    writer.abort();
    throw e;
  }
  return report;
}
