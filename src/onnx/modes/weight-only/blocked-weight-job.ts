import { QuantError } from '../../../core/errors.js';
import type { QuantErrorCode } from '../../../core/errors.js';
import type { DriftAccumulator } from '../../../core/lowbit/drift-accumulator.js';
import type { HessianAccumulator } from '../../../core/lowbit/hessian-accumulator.js';
import type { BlockedWeight, BlockedWeightOptions } from './blocked-weight.js';
import { quantizeBlockedWeight } from './blocked-weight.js';
import type { LayerStats } from './layer-stats.js';

/** LayerStats as plain data (the Hessian as its matrix), so a job can be posted to a worker thread. */
export interface LayerStatsData {
  readonly cols: number;
  readonly rows: number;
  readonly sumAbs: Float64Array;
  readonly sumSq: Float64Array;
  readonly hessian?: { readonly samples: number; readonly matrix: Float64Array };
  readonly patchHessian?: { readonly cols: number; readonly samples: number; readonly matrix: Float64Array };
  readonly drift?: { readonly samples: number; readonly matrix: Float64Array };
  readonly patchDrift?: { readonly cols: number; readonly samples: number; readonly matrix: Float64Array };
  readonly sample?: Float32Array;
}

/** The arguments of one quantizeBlockedWeight call as plain data (structured-clonable). */
export interface BlockedWeightJob {
  readonly values: Float32Array;
  readonly dims: readonly number[];
  readonly axis: number;
  readonly options: BlockedWeightOptions;
  readonly stats?: readonly LayerStatsData[];
}

/**
 * Runs quantizeBlockedWeight jobs elsewhere (worker threads, see src/node/workers); it must give
 * exactly what runBlockedWeightJob gives on the calling thread, and reject with a QuantError where
 * that throws one. The layers of one calibration pass are handed to it together, so it may run them
 * at the same time: they are independent (each was calibrated on the model with only the earlier
 * passes' layers quantized).
 */
export type BlockedWeightExecutor = (job: BlockedWeightJob) => Promise<BlockedWeight>;

/** The job of quantizeBlockedWeight(values, dims, axis, options, stats). `values` is shared, not copied. */
export function blockedWeightJob(values: Float32Array, dims: readonly number[], axis: number, options: BlockedWeightOptions, stats?: readonly LayerStats[]): BlockedWeightJob {
  return {
    values,
    dims: [...dims],
    axis,
    options: { ...options },
    ...(stats && {
      stats: stats.map((s) => ({
        cols: s.cols,
        rows: s.rows,
        sumAbs: s.sumAbs,
        sumSq: s.sumSq,
        ...(s.hessian && { hessian: { samples: s.hessian.samples, matrix: s.hessian.hessian() } }),
        ...(s.patchHessian && { patchHessian: { cols: s.patchHessian.cols, samples: s.patchHessian.samples, matrix: s.patchHessian.hessian() } }),
        ...(s.drift && { drift: { samples: s.drift.samples, matrix: s.drift.drift() } }),
        ...(s.patchDrift && { patchDrift: { cols: s.patchDrift.cols, samples: s.patchDrift.samples, matrix: s.patchDrift.drift() } }),
        ...(s.sample && { sample: s.sample }),
      })),
    }),
  };
}

/** A read-only accumulator over a finished Hessian: what quantizeBlockedWeight reads of one (cols, samples, hessian()). */
function frozenHessian(cols: number, samples: number, matrix: Float64Array): HessianAccumulator {
  const refuse = (): never => {
    throw new QuantError('INVALID_ARGUMENT', 'this Hessian came from another thread and takes no more rows');
  };
  return { cols, samples, add: refuse, merge: refuse, hessian: () => matrix.slice() };
}

/** A read-only accumulator over a finished drift, as frozenHessian. */
function frozenDrift(cols: number, samples: number, matrix: Float64Array): DriftAccumulator {
  return {
    cols,
    samples,
    add: () => {
      throw new QuantError('INVALID_ARGUMENT', 'this drift came from another thread and takes no more rows');
    },
    drift: () => matrix.slice(),
  };
}

/** quantizeBlockedWeight on a job: the same result, bit for bit, as the call the job was made from. */
export function runBlockedWeightJob(job: BlockedWeightJob): BlockedWeight {
  const stats = job.stats?.map(
    (s): LayerStats => ({
      cols: s.cols,
      rows: s.rows,
      sumAbs: s.sumAbs,
      sumSq: s.sumSq,
      ...(s.hessian && { hessian: frozenHessian(s.cols, s.hessian.samples, s.hessian.matrix) }),
      ...(s.patchHessian && { patchHessian: frozenHessian(s.patchHessian.cols, s.patchHessian.samples, s.patchHessian.matrix) }),
      ...(s.drift && { drift: frozenDrift(s.cols, s.drift.samples, s.drift.matrix) }),
      ...(s.patchDrift && { patchDrift: frozenDrift(s.patchDrift.cols, s.patchDrift.samples, s.patchDrift.matrix) }),
      ...(s.sample && { sample: s.sample }),
    }),
  );
  return quantizeBlockedWeight(job.values, job.dims, job.axis, job.options, stats);
}

/** A worker's answer when a job threw: enough to throw the same QuantError on the calling thread. */
export interface JobError {
  readonly code?: QuantErrorCode;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** The JobError of what runBlockedWeightJob threw. */
export function jobErrorOf(e: unknown): JobError {
  if (e instanceof QuantError) return { code: e.code, message: e.message, ...(e.details && { details: e.details }) };
  return { message: e instanceof Error ? e.message : String(e) };
}

/** The error to throw on the calling thread for a JobError: a QuantError with the same code, message and details where the job threw one. */
export function errorOfJob(e: JobError): Error {
  return e.code ? new QuantError(e.code, e.message, e.details ? { details: e.details } : {}) : new Error(e.message);
}
