import type { CodeArray, CodeStorage } from '../core/dtypes.js';
import type { Kernels } from '../core/kernels/contract.js';
import { getKernels } from '../core/kernels/index.js';
import type { BlockLayout } from '../core/layout.js';

/**
 * The element-wise kernels behind an async face, so the streaming code is the same whether a chunk
 * runs on this thread or is split across worker threads (KernelPool). Same chunk contract as
 * Kernels: x[0] is element `start` of the tensor `layout` describes. Buffers from allocFloat32 and
 * allocCodes are the ones a runner can share with its workers; others still work, on this thread.
 */
export interface ChunkRunner {
  /** Threads doing the work (1 for this thread only). */
  readonly threads: number;
  allocFloat32(n: number): Float32Array;
  allocCodes(storage: CodeStorage, n: number): CodeArray;
  minMax(x: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array, start: number, finiteOnly: boolean): Promise<void>;
  quantize(x: Float32Array, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number, out: CodeArray, start: number): Promise<void>;
  dequantize(q: CodeArray, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, out: Float32Array, start: number): Promise<void>;
  fakeQuantize(x: Float32Array, layout: BlockLayout, scale: Float32Array, zeroPoint: Int32Array, qmin: number, qmax: number, out: Float32Array, start: number): Promise<void>;
  close(): Promise<void>;
}

export const CODE_CTORS = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array } as const;

/** Runs every kernel on the calling thread. */
export function createLocalRunner(kernels: Kernels = getKernels()): ChunkRunner {
  return {
    threads: 1,
    allocFloat32: (n) => new Float32Array(n),
    allocCodes: (storage, n) => new CODE_CTORS[storage](n),
    async minMax(x, layout, min, max, start, finiteOnly) {
      kernels.minMax(x, layout, min, max, start, finiteOnly);
    },
    async quantize(x, layout, scale, zeroPoint, qmin, qmax, out, start) {
      kernels.quantize(x, layout, scale, zeroPoint, qmin, qmax, out, start);
    },
    async dequantize(q, layout, scale, zeroPoint, out, start) {
      kernels.dequantize(q, layout, scale, zeroPoint, out, start);
    },
    async fakeQuantize(x, layout, scale, zeroPoint, qmin, qmax, out, start) {
      kernels.fakeQuantize(x, layout, scale, zeroPoint, qmin, qmax, out, start);
    },
    async close() {},
  };
}
