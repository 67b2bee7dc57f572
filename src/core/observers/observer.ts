import type { QuantDtypeName } from '../dtypes.js';
import type { QParams } from '../qparams.js';

/** What an observer turns its statistics into parameters for. */
export interface ObserverScheme {
  readonly dtype: QuantDtypeName;
  readonly symmetric?: boolean;
  readonly narrow?: boolean;
}

/** Per-tensor (axis undefined) or per-channel along `axis` (negative counts from the end). */
export interface ObserverOptions {
  readonly axis?: number;
}

/**
 * A range estimator, as PyTorch's observers: a reducer over batches.
 *   update(x)   folds a batch in (all batches of one observer share a rank and, per channel, the channel count);
 *   merge(o)    folds another observer of the same kind and options in (chunked or parallel calibration);
 *   range(s)    the per-parameter clipping range it chose (1 entry per-tensor, C per-channel);
 *   qparams(s)  the scale and zero point, always from the shared chooseQParams.
 * The range may depend on the scheme (the MSE and entropy searches optimise for its bit width).
 */
export interface Observer {
  readonly name: string;
  readonly axis: number | undefined;
  /** Elements seen so far. */
  readonly count: number;
  update(x: Float32Array, shape: readonly number[]): void;
  merge(other: Observer): void;
  range(scheme: ObserverScheme): { min: Float32Array; max: Float32Array };
  qparams(scheme: ObserverScheme): QParams;
  reset(): void;
}
