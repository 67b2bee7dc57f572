import type { CodeArray, CodeStorage } from '../../core/dtypes.js';
import type { Kernels } from '../../core/kernels/contract.js';
import type { WasmArena } from '../../core/kernels/index.js';
import { createWasmArena, getKernels } from '../../core/kernels/index.js';
import type { BlockLayout } from '../../core/layout.js';

/**
 * The element-wise kernels behind an async face, so the streaming code is the same whether a chunk
 * runs on this thread or is split across worker threads (KernelPool). Same chunk contract as
 * Kernels: x[0] is element `start` of the tensor `layout` describes.
 *
 * allocFloat32 and allocCodes hand out arrays living in the shared WebAssembly memory (an arena the
 * runner owns), which the kernels process in place and a pool's workers can reach; they stay valid
 * until close(), which frees them. Other arrays work too, on the calling thread, staged.
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
  /** Frees what alloc* handed out and stops any threads; safe to call twice. */
  close(): Promise<void>;
}

/** Runs every kernel on the calling thread; its buffers come from an arena in WebAssembly memory, created on first use. */
export function createLocalRunner(kernels: Kernels = getKernels()): ChunkRunner {
  let arena: WasmArena | undefined;
  return {
    threads: 1,
    allocFloat32: (n) => (arena ??= createWasmArena()).float32(n),
    allocCodes: (storage, n) => (arena ??= createWasmArena()).codes(storage, n),
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
    async close() {
      arena?.free();
      arena = undefined;
    },
  };
}
