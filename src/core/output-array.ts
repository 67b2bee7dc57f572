/**
 * New arrays for results that a kernel is about to overwrite element by element (codes, dequantized
 * values), allocated without the zeroing `new Float32Array(n)` pays for where the host can.
 *
 * A fresh zeroed array is not free: the allocator either clears memory it reuses (a 16 MiB calloc
 * of reused memory: 0.6-0.7 ms here, a tenth of copying the 64 MiB input) or maps new pages that
 * fault on first touch. The core has no uninitialized memory of its own (browsers offer none), so
 * the host may install an allocator that gives some: quantkit's Node entry points install one
 * (src/node/uninitialized-outputs.ts) that malloc()s without clearing, as numpy's `np.empty` does.
 * Without one, outputs are ordinary zeroed arrays.
 *
 * Callers of outputArray must write every element before the array escapes: the memory may hold
 * bytes this process freed earlier. The tests install an allocator that returns garbage and compare
 * every output with one written into a zeroed array.
 */

type OutputCtor = Float32ArrayConstructor | Int8ArrayConstructor | Uint8ArrayConstructor | Int16ArrayConstructor | Uint16ArrayConstructor;

/** Memory of at least `bytes` bytes with unspecified contents, starting at `byteOffset` of `buffer` (aligned to 8). */
export type UninitializedAllocator = (bytes: number) => { readonly buffer: ArrayBuffer; readonly byteOffset: number };

/** Below this many bytes a zeroed array costs next to nothing: the plain constructor is kept. */
export const UNINITIALIZED_MIN_BYTES = 1 << 20;

let uninitialized: UninitializedAllocator | undefined;

/** Installs (or, with undefined, removes) the host's allocator of uninitialized memory; returns the previous one. */
export function setUninitializedAllocator(alloc: UninitializedAllocator | undefined): UninitializedAllocator | undefined {
  const previous = uninitialized;
  uninitialized = alloc;
  return previous;
}

/** A new array of n elements whose contents are unspecified (uninitialized where the host allows). */
export function outputArray<C extends OutputCtor>(ctor: C, n: number): InstanceType<C> {
  const bytes = n * ctor.BYTES_PER_ELEMENT;
  if (!uninitialized || bytes < UNINITIALIZED_MIN_BYTES) return new ctor(n) as InstanceType<C>;
  const raw = uninitialized(bytes);
  return new ctor(raw.buffer, raw.byteOffset, n) as InstanceType<C>;
}
