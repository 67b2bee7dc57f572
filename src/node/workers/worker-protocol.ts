import type { CodeStorage } from '../../core/dtypes.js';
import type { BlockLayout } from '../../core/layout.js';

/**
 * Messages between a KernelPool and its workers. No array data crosses the message channel: every
 * array lives in the one shared WebAssembly.Memory the pool posts at start-up, and messages carry
 * byte addresses in it. A worker builds views at those addresses and runs the kernel in place.
 *
 * Layouts and starts arrive rebased to the first outer row the slice touches (see rebaseSlice), so
 * parameter arrays hold only the window the slice uses: `params` values at the given addresses.
 */

/** What a worker receives once, as its workerData. */
export interface WorkerInit {
  readonly memory: WebAssembly.Memory;
  /** This worker's own scratch region of the memory (setWasmScratch). */
  readonly scratchPtr: number;
  readonly scratchBytes: number;
}

interface Slice {
  readonly id: number;
  readonly layout: BlockLayout;
  /** Index of this slice's first element in the (rebased) layout: the kernels' `start`. */
  readonly start: number;
  /** Elements in the slice. */
  readonly n: number;
  /** Parameters in the window (length of every parameter array below). */
  readonly params: number;
  /** A new, larger scratch region for this worker, when the window outgrew the previous one. */
  readonly scratch?: { readonly ptr: number; readonly bytes: number };
}

export type WorkerRequest =
  /** min and max hold the running extremes of the window on entry, folded with the slice on return. */
  | (Slice & { op: 'minMax'; x: number; min: number; max: number; finiteOnly: boolean })
  | (Slice & { op: 'quantize'; x: number; scale: number; zeroPoint: number; qmin: number; qmax: number; out: number; storage: CodeStorage })
  | (Slice & { op: 'fakeQuantize'; x: number; scale: number; zeroPoint: number; qmin: number; qmax: number; out: number })
  | (Slice & { op: 'dequantize'; q: number; storage: CodeStorage; scale: number; zeroPoint: number; out: number });

export interface WorkerReply {
  readonly id: number;
  readonly error?: string;
}
