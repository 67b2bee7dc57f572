import { QuantError } from '../../core/errors.js';
import type { BlockLayout } from '../../core/layout.js';
import { blockLayout, PER_TENSOR } from '../../core/layout.js';
import { getKernels } from '../../core/kernels/index.js';
import { checkFiniteRange } from '../../core/validate.js';
import type { ChunkRunner } from '../workers/chunk-runner.js';
import type { NpyFileReader } from './npy-file-reader.js';

/** Elements per chunk when streaming: 8 MiB of float32, small next to any file worth streaming. */
export const DEFAULT_CHUNK_ELEMENTS = 1 << 21;

export interface ChunkPassOptions {
  readonly runner: ChunkRunner;
  /**
   * Reused float32 buffers of the chunk size. With two, the next chunk is read (off this thread)
   * while the current one is visited.
   */
  readonly buffer: Float32Array | readonly Float32Array[];
  /** Called after each chunk with the number of elements this pass has done. */
  readonly onProgress?: (done: number) => void;
}

/**
 * Visits the file as float32 chunks; x is a view of one of `buffers`, overwritten once visit's
 * promise settles. Given two buffers and a file read without conversion, chunk k + 1 is read into
 * the other buffer while chunk k is visited (the read runs on libuv's thread pool, so it overlaps
 * compute on this thread or in workers). No read is left in flight when this returns or throws,
 * so the caller may free the buffers right after.
 */
export async function forEachChunk(
  reader: NpyFileReader,
  buffers: Float32Array | readonly Float32Array[],
  visit: (x: Float32Array, start: number) => Promise<void> | void,
  onProgress?: (done: number) => void,
): Promise<void> {
  const bufs = buffers instanceof Float32Array ? [buffers] : buffers;
  const chunk = bufs[0].length;
  const size = reader.size;
  const prefetch = bufs.length > 1 && reader.isRawFloat32 && size > chunk;
  const view = (k: number, start: number) => bufs[k % bufs.length].subarray(0, Math.min(chunk, size - start));
  if (!prefetch) {
    for (let start = 0; start < size; start += chunk) {
      const n = Math.min(chunk, size - start);
      await visit(reader.readFloat32(start, view(0, start)), start);
      onProgress?.(start + n);
    }
    return;
  }
  let next: Promise<Float32Array> | undefined = reader.readFloat32Async(0, view(0, 0));
  try {
    for (let k = 0, start = 0; start < size; k++, start += chunk) {
      const x: Float32Array = await next!;
      next = undefined;
      const after = start + chunk;
      if (after < size) next = reader.readFloat32Async(after, view(k + 1, after));
      await visit(x, start);
      onProgress?.(start + x.length);
    }
  } finally {
    // The read lands in a buffer the caller frees once we return: let it finish first.
    if (next) await next.catch(() => undefined);
  }
}

/**
 * Per-parameter min and max over the whole file, chunk by chunk, with the same checks as the
 * library's computeRange: NaN is an error naming its first flat index, ±Infinity too unless
 * allowInf (then the range is over finite values). Locating the offending index takes a second
 * read of the file, only on that error path.
 */
export async function computeNpyRange(
  reader: NpyFileReader,
  layout: BlockLayout,
  allowInf: boolean,
  opts: ChunkPassOptions,
): Promise<{ min: Float32Array; max: Float32Array }> {
  if (reader.size === 0) throw new QuantError('EMPTY_INPUT', `cannot compute a range over the empty array in '${reader.path}'`);
  const min = new Float32Array(layout.paramCount).fill(Infinity);
  const max = new Float32Array(layout.paramCount).fill(-Infinity);
  await forEachChunk(reader, opts.buffer, (x, start) => opts.runner.minMax(x, layout, min, max, start, allowInf), opts.onProgress);
  if (!rangeIsClean(min, max, allowInf)) await locateNonFinite(reader, opts.buffer, allowInf);
  return { min, max };
}

/** Throws NAN_INPUT / INF_INPUT naming the first offending index of a chunk, as the library does for a whole array. */
export function checkChunkFinite(x: Float32Array, start: number, allowInf: boolean): void {
  const min = new Float32Array([Infinity]);
  const max = new Float32Array([-Infinity]);
  getKernels().minMax(x, SINGLE(x.length), min, max, 0, allowInf);
  checkFiniteRange(x, min, max, allowInf, start);
}

const SINGLE = (n: number) => blockLayout([n], PER_TENSOR);

function rangeIsClean(min: Float32Array, max: Float32Array, allowInf: boolean): boolean {
  for (let p = 0; p < min.length; p++) {
    if (min[p] !== min[p] || max[p] !== max[p]) return false;
    if (!allowInf && (min[p] === -Infinity || max[p] === Infinity)) return false;
  }
  return true;
}

async function locateNonFinite(reader: NpyFileReader, buffer: Float32Array | readonly Float32Array[], allowInf: boolean): Promise<never> {
  await forEachChunk(reader, buffer, (x, start) => checkChunkFinite(x, start, allowInf));
  throw new QuantError('INVALID_ARGUMENT', `'${reader.path}' changed while it was being read`);
}
