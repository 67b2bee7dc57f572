import type { CodeArray, CodeStorage } from '../dtypes.js';
import { CODE_STORAGE_NAMES, CODE_STORAGES, codeArrayConstructor } from '../dtypes.js';
import { QuantError } from '../errors.js';
import { wasmHeap, wasmView } from './wasm-memory.js';

/**
 * A group of arrays that live in WebAssembly linear memory, freed together. Kernels given such
 * arrays run on them in place (no staging copy in or out), so hot loops that reuse buffers should
 * take them from an arena: read a file chunk straight into `arena.float32(n)`, quantize into
 * `arena.codes('uint8', n)`.
 *
 * Example:
 * ```ts
 * const arena = createWasmArena();
 * const x = arena.float32(1 << 20);   // fill x (fs.readSync into new Uint8Array(x.buffer, x.byteOffset, x.byteLength))
 * const q = arena.codes('uint8', x.length);
 * getKernels().quantize(x, layout, scale, zeroPoint, 0, 255, q);   // in place: no copies
 * arena.free();                          // x and q must not be used after this
 * ```
 *
 * Every array starts on a 64-byte boundary, arrays never overlap, and growing the memory (other
 * allocations) keeps them valid. After `reset()` or `free()` their bytes are reused: using an
 * array afterwards reads and writes someone else's data, exactly as in C. Where shared memory is
 * unavailable (`inWasmMemory` false) the arena hands out ordinary arrays instead, so the same code
 * runs everywhere, with the kernels staging them.
 */
export interface WasmArena {
  /** Whether the arrays live in WebAssembly memory (shared memory available). */
  readonly inWasmMemory: boolean;
  /** Bytes currently allocated by this arena. */
  readonly bytes: number;
  float32(n: number): Float32Array;
  codes(storage: CodeStorage, n: number): CodeArray;
  uint8(n: number): Uint8Array;
  int32(n: number): Int32Array;
  /** Frees every array of this arena; the arena stays usable. */
  reset(): void;
  /** Frees every array and closes the arena (further allocations are errors). */
  free(): void;
}

/** A new arena (see WasmArena). */
export function createWasmArena(): WasmArena {
  const heap = wasmHeap();
  const blocks: number[] = [];
  let bytes = 0;
  let closed = false;

  function take<T extends ArrayBufferView>(ctor: (new (n: number) => T) & (new (b: ArrayBufferLike, o: number, n: number) => T) & { BYTES_PER_ELEMENT: number }, n: number): T {
    if (closed) throw new QuantError('INVALID_ARGUMENT', 'this WebAssembly arena was freed');
    if (!Number.isSafeInteger(n) || n < 0) throw new QuantError('INVALID_ARGUMENT', `array length must be a whole number >= 0, got ${n}`);
    if (!heap) return new ctor(n);
    const size = n * ctor.BYTES_PER_ELEMENT;
    const ptr = heap.alloc(size);
    blocks.push(ptr);
    bytes += heap.sizeOf(ptr) ?? 0;
    return wasmView(ctor, ptr, n);
  }

  function release(): void {
    if (heap) for (const ptr of blocks) heap.release(ptr);
    blocks.length = 0;
    bytes = 0;
  }

  return {
    inWasmMemory: heap !== undefined,
    get bytes() {
      return bytes;
    },
    float32: (n) => take(Float32Array, n),
    codes: (storage, n) => {
      // The kind may come from plain JavaScript: an own key of the table, never an inherited one ('constructor').
      if (!Object.prototype.hasOwnProperty.call(CODE_STORAGES, storage)) {
        throw new QuantError('INVALID_ARGUMENT', `code storage must be ${CODE_STORAGE_NAMES.join(', ')}, got ${String(storage)}`);
      }
      return take(codeArrayConstructor(storage), n) as CodeArray;
    },
    uint8: (n) => take(Uint8Array, n),
    int32: (n) => take(Int32Array, n),
    reset: release,
    free() {
      release();
      closed = true;
    },
  };
}
