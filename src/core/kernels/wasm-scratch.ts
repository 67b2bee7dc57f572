import type { CodeArray, CodeStorage } from '../dtypes.js';
import { codeArrayConstructor } from '../dtypes.js';
import type { BlockLayout } from '../layout.js';
import { copyWithMinMax, wasmKernels } from './wasm.js';
import { isWasmArray, wasmHeap, wasmView } from './wasm-memory.js';

/**
 * Largest input copied into the scratch region (elements): 64 MiB of float32. The region is kept
 * for reuse and linear memory never shrinks, so a bigger one would pin that much memory for the
 * life of the thread; bigger inputs are staged chunk by chunk instead (same results).
 */
export const SCRATCH_LIMIT = 1 << 24;

type Slot = { ptr: number; bytes: number } | undefined;
const slots: { floats: Slot; codes: Slot } = { floats: undefined, codes: undefined };

/** Byte address of a reused scratch allocation of at least `bytes`. */
function slot(name: keyof typeof slots, bytes: number): number | undefined {
  const heap = wasmHeap();
  if (!heap) return undefined;
  const have = slots[name];
  if (have && have.bytes >= bytes) return have.ptr;
  if (have) heap.release(have.ptr);
  slots[name] = undefined;
  const size = Math.max(bytes, 65536);
  slots[name] = { ptr: heap.alloc(size), bytes: size };
  return slots[name].ptr;
}

/** Elements copied per step of stageWithMinMax: 128 KiB, so the min/max pass reads a chunk still in cache. */
const FUSE_CHUNK = 32768;

/**
 * x, or a copy of x in a reused scratch region of the shared WebAssembly memory, so several kernel
 * passes over it (min/max, then quantize) run in place after ONE copy instead of staging every
 * pass. x itself when it already lives there, when shared memory is unavailable, or when it has
 * more than SCRATCH_LIMIT elements. The copy is valid until the next call on this thread: use it
 * within one operation and do not hand it out.
 */
export function stagedFloat32(x: Float32Array): Float32Array {
  if (isWasmArray(x) || x.length > SCRATCH_LIMIT || x.length === 0) return x;
  const ptr = slot('floats', x.length * 4);
  if (ptr === undefined) return x;
  const view = wasmView(Float32Array, ptr, x.length);
  view.set(x);
  return view;
}

/**
 * stagedFloat32 fused with the first pass: x is copied into the scratch region FUSE_CHUNK elements
 * at a time and each chunk is folded into min/max (Kernels.minMax semantics, start 0) while it is
 * still in cache, so the range costs little beyond the copy. Returns the staged x (x itself, with
 * the range taken in place or staged, when stagedFloat32 would not copy).
 */
export function stageWithMinMax(x: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array, finiteOnly: boolean): Float32Array {
  const ptr = isWasmArray(x) || x.length > SCRATCH_LIMIT || x.length === 0 ? undefined : slot('floats', x.length * 4);
  if (ptr === undefined) {
    wasmKernels.minMax(x, layout, min, max, 0, finiteOnly);
    return x;
  }
  const view = wasmView(Float32Array, ptr, x.length);
  copyWithMinMax(x, view, layout, min, max, finiteOnly, FUSE_CHUNK);
  return view;
}

/**
 * A reused codes array of n elements in the shared WebAssembly memory (valid until the next call on
 * this thread), or undefined where there is none or n is past SCRATCH_LIMIT: quantize writes codes
 * there in place and the caller copies them out once.
 */
export function scratchCodes(storage: CodeStorage, n: number): CodeArray | undefined {
  if (n > SCRATCH_LIMIT || n === 0) return undefined;
  const ctor = codeArrayConstructor(storage);
  const ptr = slot('codes', n * ctor.BYTES_PER_ELEMENT);
  return ptr === undefined ? undefined : (wasmView(ctor, ptr, n) as CodeArray);
}
