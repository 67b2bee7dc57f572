import type { CodeArray } from '../../core/dtypes.js';
import { getQuantDtype } from '../../core/dtypes.js';
import { QuantError } from '../../core/errors.js';
import { createWasmArena, getKernels } from '../../core/kernels/index.js';
import { shapeSize } from '../../core/layout.js';
import type { QParams } from '../../core/qparams.js';
import { layoutForParams } from '../../core/quantize.js';
import { encodeNpyHeader } from '../../formats/npy.js';
import type { ChunkRunner } from '../workers/chunk-runner.js';
import { createLocalRunner } from '../workers/chunk-runner.js';
import type { NpyFileReader } from './npy-file-reader.js';
import { DEFAULT_CHUNK_ELEMENTS } from './npy-range.js';
import type { ByteSink } from './quantize-npy-file.js';
import { alignedChunk, bytesOf, packedLength } from './quantize-npy-file.js';

export interface NpyFileDequantizeOptions {
  /**
   * The codes are packed (a flat uint8 array of ceil(n · bits / 8) bytes, as `quantize --pack`
   * writes) for a tensor of this shape. Omitted: codes are unpacked and keep their own shape.
   */
  readonly packedShape?: readonly number[];
  readonly runner?: ChunkRunner;
  readonly chunkElements?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * x = (q − zeroPoint) · scale in float32 over a .npy of codes, streamed chunk by chunk into a
 * float32 .npy of the tensor's shape. Unpacked codes must be in the dtype quantize writes for the
 * parameters' dtype (int8/uint8 up to 8 bits, int16/uint16 above).
 */
export async function dequantizeNpyFile(reader: NpyFileReader, sink: ByteSink, params: QParams, opts: NpyFileDequantizeOptions = {}): Promise<{ shape: readonly number[] }> {
  const dtype = getQuantDtype(params.dtype);
  const h = reader.header;
  const packed = opts.packedShape !== undefined;
  const shape = opts.packedShape ?? h.shape;
  const size = shapeSize(shape);
  if (packed) {
    if (dtype.perByte === 0) throw new QuantError('INVALID_PARAMS', `packed codes must be 2- or 4-bit, the parameters are ${dtype.name}`);
    const want = packedLength(size, dtype);
    if (h.dtype !== 'uint8' || h.shape.length !== 1 || h.shape[0] !== want) {
      throw new QuantError(
        'SHAPE_MISMATCH',
        `packed ${dtype.name} codes of a [${shape.join(', ')}] tensor must be a flat uint8 array of ${want} bytes, got ${h.dtype} of shape [${h.shape.join(', ')}] in '${reader.path}'`,
      );
    }
  } else if (h.dtype !== dtype.storage) {
    throw new QuantError('INVALID_PARAMS', `${dtype.name} codes must be stored as ${dtype.storage}, got ${h.dtype} in '${reader.path}'`);
  }
  const layout = layoutForParams(size, shape, params);
  const chunk = alignedChunk(opts.chunkElements ?? DEFAULT_CHUNK_ELEMENTS);
  const n = Math.max(1, Math.min(chunk, size));
  const runner = opts.runner ?? createLocalRunner();
  const arena = createWasmArena();
  try {
    // Codes are read straight into WebAssembly memory and dequantized in place into it.
    const codes = arena.codes(dtype.storage, n);
    const values = arena.float32(n);
    const packedBuf = packed ? arena.uint8(packedLength(n, dtype)) : undefined;
    const kernels = getKernels();
    sink.write(encodeNpyHeader('float32', shape));
    for (let start = 0; start < size; start += n) {
      const m = Math.min(n, size - start);
      const q: CodeArray = codes.subarray(0, m);
      if (packedBuf) {
        // Chunks start on whole bytes: n is a multiple of 64 codes.
        const bytes = packedBuf.subarray(0, packedLength(m, dtype));
        reader.readNative(packedLength(start, dtype), bytes);
        kernels.unpack(bytes, dtype.bits as 2 | 4, dtype.signed, q as Int8Array | Uint8Array);
      } else {
        reader.readNative(start, q);
      }
      const out = values.subarray(0, m);
      await runner.dequantize(q, layout, params.scale, params.zeroPoint, out, start);
      sink.write(bytesOf(out));
      opts.onProgress?.(start + m, size);
    }
  } finally {
    arena.free();
    if (!opts.runner) await runner.close();
  }
  return { shape };
}
