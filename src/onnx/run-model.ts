import type { TensorData } from '../formats/onnx/tensor.js';
import type { BlockedWeightExecutor } from './modes/weight-only/blocked-weight-job.js';

/** Named input or output tensors of one run. */
export type TensorMap = Record<string, TensorData>;

/**
 * Runs an encoded model over batches of inputs, handing each batch's outputs (all graph outputs, or
 * `outputNames`) to `onOutputs` before the next batch runs, so memory stays bounded. Implemented in
 * src/node with onnxruntime-node; the onnx layer only receives it, so it never depends on a runtime.
 */
export type RunModel = (
  model: Uint8Array,
  batches: AsyncIterable<TensorMap> | Iterable<TensorMap>,
  onOutputs: (outputs: TensorMap, batch: number) => void | Promise<void>,
  outputNames?: readonly string[],
) => Promise<void>;

export interface ProgressEvent {
  /** 'quantize' | 'calibrate' | ... */
  readonly phase: string;
  readonly done: number;
  readonly total: number;
}

/** What quantizeModel needs from its environment. */
export interface QuantizeHooks {
  readonly runModel?: RunModel;
  /** Calibration batches (static mode); called once per pass, each call a fresh iteration. */
  readonly calibrationData?: () => AsyncIterable<TensorMap> | Iterable<TensorMap>;
  readonly onProgress?: (event: ProgressEvent) => void;
  /**
   * Weight-only methods with calibration (gptq, awq, search): quantizes the weights of each
   * calibration pass's layers elsewhere, all at once (worker threads: src/node/workers/
   * blocked-weight-pool.ts). The model is byte-identical with or without it.
   */
  readonly quantizeBlocked?: BlockedWeightExecutor;
}
