import { QuantError } from '../errors.js';
import { kernelsSharedWasmBytes } from './kernels-shared-wasm.generated.js';

/**
 * The linear memory the WebAssembly kernels run over, and the allocator for the arrays that live
 * in it.
 *
 * Where SharedArrayBuffer exists (Node always; browsers when cross-origin isolated) the memory is a
 * SHARED WebAssembly.Memory imported by the kernels module. A shared memory never detaches: after
 * `grow`, `memory.buffer` is a new, longer SharedArrayBuffer over the same bytes and the old one
 * stays valid, so a Float32Array a caller holds over linear memory keeps working however much the
 * memory grows. Kernels recognise such arrays (their buffer is one `memory.buffer` returned, all
 * tracked in a WeakSet) and run on them in place, with no staging copy. The same memory can be
 * posted to worker threads, whose own instances then work on disjoint ranges of it.
 *
 * Where it does not exist, the module owns an ordinary memory (which detaches on growth, so no
 * view of it may escape): kernels stage chunks through it, and the arena hands out heap arrays.
 */

const PAGE = 65536;
/** Allocations are aligned to (and sized in multiples of) a cache line, 4× the 16 bytes SIMD loads want. */
export const WASM_ALIGN = 64;
/** 65536 pages = 4 GiB, all a wasm32 pointer reaches; 1 GiB where the host will not reserve that much. */
const MAX_PAGES = [65536, 16384];

interface SharedState {
  readonly memory: WebAssembly.Memory;
  /** The shared-memory kernels module, compiled once; each thread instantiates it over `memory`. */
  readonly module: WebAssembly.Module;
}

/** undefined: not decided yet; null: no shared memory in this runtime. */
let state: SharedState | null | undefined;
let attached = false;
const buffers = new WeakSet<ArrayBufferLike>();

function compileShared(): WebAssembly.Module {
  return new WebAssembly.Module(kernelsSharedWasmBytes());
}

/**
 * This thread's shared kernel memory and module, created on first use; undefined where
 * SharedArrayBuffer or the threads feature is missing (the kernels then stage through a memory of
 * their own). The module is instantiated once here as a probe, so "shared" means "usable".
 */
export function sharedKernels(): SharedState | undefined {
  if (state !== undefined) return state ?? undefined;
  state = null;
  if (typeof SharedArrayBuffer !== 'function' || typeof WebAssembly !== 'object') return undefined;
  let module: WebAssembly.Module;
  try {
    module = compileShared();
  } catch {
    return undefined;
  }
  for (const maximum of MAX_PAGES) {
    try {
      const memory = new WebAssembly.Memory({ initial: 2, maximum, shared: true });
      new WebAssembly.Instance(module, { env: { memory } });
      state = { memory, module };
      return state;
    } catch {
      // The host refused to reserve this much address space: try less, then go unshared.
    }
  }
  return undefined;
}

/** The shared memory the kernels of this thread run over, if any (post it to workers: attachWasmMemory). */
export function sharedWasmMemory(): WebAssembly.Memory | undefined {
  return sharedKernels()?.memory;
}

/**
 * Makes this thread's kernels run over `memory`, a shared memory another thread made (posted to a
 * worker): call before the first kernel call. Allocation stays with the thread that made the
 * memory; this thread builds views with wasmView and gets scratch space passed in.
 */
export function attachWasmMemory(memory: WebAssembly.Memory): void {
  if (!(memory.buffer instanceof SharedArrayBuffer)) {
    throw new QuantError('INVALID_ARGUMENT', 'attachWasmMemory expects a shared WebAssembly.Memory, got an unshared one');
  }
  if (state && state.memory === memory) return;
  if (state) throw new QuantError('INVALID_ARGUMENT', 'this thread already runs its kernels over another memory');
  state = { memory, module: compileShared() };
  attached = true;
}

/** True when this thread's memory came from attachWasmMemory (it may not allocate in it). */
export function wasmMemoryAttached(): boolean {
  return attached;
}

function memoryOrThrow(): WebAssembly.Memory {
  const s = sharedKernels();
  if (!s) throw new QuantError('UNSUPPORTED', 'arrays can only live in WebAssembly memory where it is shared (SharedArrayBuffer is unavailable here)');
  return s.memory;
}

/** The memory's current buffer, remembered so arrays over it are recognised as living in linear memory. */
export function wasmBuffer(): ArrayBufferLike {
  const b = memoryOrThrow().buffer;
  buffers.add(b);
  return b;
}

/** Whether `a` is a view of this thread's shared kernel memory (then kernels run on it in place). */
export function isWasmArray(a: ArrayBufferView): boolean {
  return buffers.has(a.buffer);
}

type ViewCtor<T> = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => T;

/** A typed array of `length` elements at byte `ptr` of the shared kernel memory. */
export function wasmView<T extends ArrayBufferView>(ctor: ViewCtor<T>, ptr: number, length: number): T {
  const memory = memoryOrThrow();
  const bytes = ptr + length * (ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  if (bytes > memory.buffer.byteLength) throw new QuantError('INVALID_ARGUMENT', `a view up to byte ${bytes} is outside the kernel memory of ${memory.buffer.byteLength} bytes`);
  return new ctor(wasmBuffer(), ptr, length);
}

/** Grows the memory to at least `bytes`; a shared memory keeps every earlier view valid. */
export function ensureWasmBytes(bytes: number): void {
  const memory = memoryOrThrow();
  const have = memory.buffer.byteLength;
  if (bytes <= have) return;
  try {
    memory.grow(Math.ceil((bytes - have) / PAGE));
  } catch (e) {
    throw new QuantError('UNSUPPORTED', `cannot grow WebAssembly memory to ${bytes} bytes (it has ${have})`, { cause: e });
  }
}

/**
 * First-fit allocator with coalescing over [start, ∞) of the kernel memory. Small and explicit:
 * the kernels allocate nothing themselves, so this only serves arenas and kernel scratch regions.
 * The memory never shrinks; freed ranges are reused, and a free range at the top lowers the top.
 */
export class WasmHeap {
  private readonly start: number;
  private top: number;
  /** Free ranges [ptr, bytes], sorted by ptr, never adjacent (coalesced). */
  private readonly free: [number, number][] = [];
  private readonly used = new Map<number, number>();

  constructor(start: number) {
    this.start = alignUp(start);
    this.top = this.start;
  }

  /** `bytes` (rounded up to WASM_ALIGN, at least one line) at a WASM_ALIGN-aligned address. */
  alloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new QuantError('INVALID_ARGUMENT', `cannot allocate ${bytes} bytes: expected a whole number >= 0`);
    const size = Math.max(WASM_ALIGN, alignUp(bytes));
    for (let k = 0; k < this.free.length; k++) {
      const [ptr, have] = this.free[k];
      if (have < size) continue;
      if (have === size) this.free.splice(k, 1);
      else this.free[k] = [ptr + size, have - size];
      this.used.set(ptr, size);
      return ptr;
    }
    const ptr = this.top;
    if (ptr + size > 2 ** 32) throw new QuantError('UNSUPPORTED', `cannot allocate ${bytes} bytes: WebAssembly memory ends at 4 GiB`);
    ensureWasmBytes(ptr + size);
    this.top = ptr + size;
    this.used.set(ptr, size);
    return ptr;
  }

  /** Returns an allocation; freeing an address that is not allocated is an error (a double free). */
  release(ptr: number): void {
    const size = this.used.get(ptr);
    if (size === undefined) throw new QuantError('INVALID_ARGUMENT', `address ${ptr} is not an allocation of this heap (freed twice?)`);
    this.used.delete(ptr);
    let k = 0;
    while (k < this.free.length && this.free[k][0] < ptr) k++;
    let from = ptr;
    let bytes = size;
    const prev = this.free[k - 1];
    if (prev && prev[0] + prev[1] === from) {
      from = prev[0];
      bytes += prev[1];
      this.free.splice(--k, 1);
    }
    const next = this.free[k];
    if (next && from + bytes === next[0]) {
      bytes += next[1];
      this.free.splice(k, 1);
    }
    if (from + bytes === this.top) this.top = from;
    else this.free.splice(k, 0, [from, bytes]);
  }

  /** Size of the allocation at ptr (its rounded size), or undefined. */
  sizeOf(ptr: number): number | undefined {
    return this.used.get(ptr);
  }

  /** Bytes handed out and not yet freed. */
  get usedBytes(): number {
    let s = 0;
    for (const v of this.used.values()) s += v;
    return s;
  }

  /** End of the highest allocation. */
  get topAddress(): number {
    return this.top;
  }
}

export function alignUp(bytes: number): number {
  return Math.ceil(bytes / WASM_ALIGN) * WASM_ALIGN;
}

let heap: WasmHeap | undefined;

/**
 * The allocator of this thread's shared kernel memory, or undefined where the memory is not shared
 * or was attached from another thread. Static data of the kernels module ends far below the first
 * page: allocations start at 64 KiB, leaving page 0 to it.
 */
export function wasmHeap(): WasmHeap | undefined {
  if (heap) return heap;
  if (!sharedKernels() || attached) return undefined;
  heap = new WasmHeap(PAGE);
  return heap;
}
