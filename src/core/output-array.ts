/**
 * New arrays for results that a kernel is about to overwrite element by element (codes, dequantized
 * values), allocated without the zeroing `new Float32Array(n)` pays for.
 *
 * A fresh zeroed array is not free: the allocator either clears memory it reuses (a 16 MiB calloc
 * of reused memory: 0.6-0.7 ms here, a tenth of copying the 64 MiB input) or maps new pages that
 * fault on first touch. Where the runtime offers uninitialized memory (Node's, Bun's and Deno's
 * `Buffer.allocUnsafeSlow`, which malloc()s and does not clear), large outputs take it, as numpy's
 * `np.empty` does; browsers have no such call and get ordinary arrays. It is a feature check on
 * `globalThis`, not an import, so the core still runs everywhere.
 *
 * Callers must write every element before the array escapes: the memory may hold bytes this
 * process freed earlier. The tests fill that memory with garbage and compare every output.
 */

type FloatOrCodeCtor = Float32ArrayConstructor | Int8ArrayConstructor | Uint8ArrayConstructor | Int16ArrayConstructor | Uint16ArrayConstructor;

interface UnsafeAllocator {
  allocUnsafeSlow(size: number): Uint8Array<ArrayBuffer>;
}

/** Below this many bytes a zeroed array costs next to nothing: keep the plain constructor. */
export const UNINITIALIZED_MIN_BYTES = 1 << 20;

function unsafeAllocator(): UnsafeAllocator | undefined {
  const b = (globalThis as { Buffer?: Partial<UnsafeAllocator> }).Buffer;
  return typeof b?.allocUnsafeSlow === 'function' ? (b as UnsafeAllocator) : undefined;
}

/** A new array of n elements whose contents are unspecified (uninitialized where the runtime allows). */
export function outputArray<C extends FloatOrCodeCtor>(ctor: C, n: number): InstanceType<C> {
  const bytes = n * ctor.BYTES_PER_ELEMENT;
  const alloc = bytes >= UNINITIALIZED_MIN_BYTES ? unsafeAllocator() : undefined;
  if (!alloc) return new ctor(n) as InstanceType<C>;
  // allocUnsafeSlow never hands out a slice of a shared pool: the buffer is this array's alone and
  // starts at offset 0, so every element type is aligned.
  const raw = alloc.allocUnsafeSlow(bytes);
  return new ctor(raw.buffer, raw.byteOffset, n) as InstanceType<C>;
}
