import type { CalibrateOptions, CalibrationReport } from '../engine/quantizer.js';

/** A calibration run in the worker on a snapshot of one instance (its config and parameters). */
export interface OffloadCalibrate {
  id: number;
  op: 'calibrate';
  config: unknown;
  parameters: unknown;
  /** Every batch, concatenated (C order); batch b is x[b·size .. (b+1)·size). */
  x: Float32Array;
  batchShape: number[];
  batches: number;
  options: CalibrateOptions;
}

export type OffloadReply =
  | { id: number; ok: true; report: CalibrationReport; parameters: unknown }
  | { id: number; ok: false; error: { name: string; code?: string; message: string } };
