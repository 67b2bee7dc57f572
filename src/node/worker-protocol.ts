import type { CodeArray } from '../core/dtypes.js';
import type { BlockLayout } from '../core/layout.js';

/** Typed arrays in these messages are views of SharedArrayBuffers: posting them shares, not copies. */
interface Slice {
  readonly id: number;
  readonly layout: BlockLayout;
  /** This worker's elements of the chunk: [from, to). */
  readonly from: number;
  readonly to: number;
  /** Tensor index of the chunk's first element. */
  readonly start: number;
}

export type WorkerRequest =
  | (Slice & { op: 'minMax'; x: Float32Array; min: Float32Array; max: Float32Array; lo: number; hi: number; finiteOnly: boolean })
  | (Slice & { op: 'quantize'; x: Float32Array; scale: Float32Array; zeroPoint: Int32Array; qmin: number; qmax: number; out: CodeArray })
  | (Slice & { op: 'fakeQuantize'; x: Float32Array; scale: Float32Array; zeroPoint: Int32Array; qmin: number; qmax: number; out: Float32Array })
  | (Slice & { op: 'dequantize'; q: CodeArray; scale: Float32Array; zeroPoint: Int32Array; out: Float32Array });

export interface WorkerReply {
  readonly id: number;
  readonly error?: string;
}
