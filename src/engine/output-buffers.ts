import type { CodeArray, CodeStorage } from '../core/dtypes.js';

const CTORS = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array } as const;

/**
 * Output buffers the hot path reuses instead of allocating per call (bufferSize / optimizeMemory).
 * Each kind is one growing buffer of at least `initial` elements; a request returns a view of its
 * first n elements. Ownership: a view stays valid only until the next request of the same kind,
 * which overwrites it. The Quantizer hands such views out only when the caller asks (`reuseOutput`)
 * and marks the result `reused: true`.
 */
export class OutputBuffers {
  private readonly codeBuffers: Partial<Record<CodeStorage, CodeArray>> = {};
  private floatBuffer: Float32Array;
  private readonly initial: number;

  /** With `preallocate`, the float and 8-bit code buffers exist from the start (16-bit ones on first use). */
  constructor(initial: number, preallocate: boolean) {
    this.initial = initial;
    this.floatBuffer = new Float32Array(preallocate ? initial : 0);
    if (preallocate) {
      this.codeBuffers.int8 = new Int8Array(initial);
      this.codeBuffers.uint8 = new Uint8Array(initial);
    }
  }

  /** A view of n elements of the reused code buffer of this storage. */
  codes(storage: CodeStorage, n: number): CodeArray {
    let b = this.codeBuffers[storage];
    if (!b || b.length < n) {
      b = new CTORS[storage](Math.max(n, this.initial, b ? b.length * 2 : 0));
      this.codeBuffers[storage] = b;
    }
    return b.subarray(0, n);
  }

  /** A view of n elements of the reused float buffer. */
  floats(n: number): Float32Array {
    if (this.floatBuffer.length < n) this.floatBuffer = new Float32Array(Math.max(n, this.initial, this.floatBuffer.length * 2));
    return this.floatBuffer.subarray(0, n);
  }

  /** Elements currently held, per kind (for tests and memory accounting). */
  capacity(): Record<CodeStorage | 'float32', number> {
    return {
      float32: this.floatBuffer.length,
      int8: this.codeBuffers.int8?.length ?? 0,
      uint8: this.codeBuffers.uint8?.length ?? 0,
      int16: this.codeBuffers.int16?.length ?? 0,
      uint16: this.codeBuffers.uint16?.length ?? 0,
    };
  }
}
