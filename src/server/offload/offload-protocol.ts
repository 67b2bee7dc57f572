import type { CalibrateOptions, CalibrationReport, CopyEffects, DequantizeResult, QuantizeResult, Quantizer, QuantizerQuantizeOptions, ScaleAndZeroPoint } from '../../engine/quantizer.js';
import type { UploadAnswer, UploadWork } from './offload-upload.js';

/**
 * What the worker rebuilds an instance from: `new Quantizer(config)` then
 * `importParameters(parameters)`. Statistics stay behind: the worker's copy starts them fresh,
 * so what it reports are the call's own counts.
 */
export interface InstanceSnapshot {
  config: unknown;
  parameters: unknown;
}

/**
 * Arrays travel as typed arrays whose buffers are transferred (never JSON); a view keeps its offset
 * inside the transferred buffer.
 */
interface Base extends InstanceSnapshot {
  id: number;
}

/** A calibration: every batch concatenated (C order); batch b is x[b·size .. (b+1)·size). */
export interface OffloadCalibrate extends Base {
  op: 'calibrate';
  x: Float32Array;
  batchShape: number[];
  batches: number;
  options: CalibrateOptions;
}

export interface OffloadQuantize extends Base {
  op: 'quantize' | 'quantize_dequantize';
  x: Float32Array;
  shape: number[];
  options: Pick<QuantizerQuantizeOptions, 'validate' | 'channelDim' | 'layerName'>;
}

/** Integer codes as the numbers the routes parsed them into; the engine checks and converts them. */
export interface OffloadDequantize extends Base {
  op: 'dequantize';
  codes: Float32Array | Float64Array;
  shape: number[];
  options: { channelDim: number | null; layerName: string | null };
}

export interface OffloadComputeParams extends Base {
  op: 'compute_params';
  x: Float32Array;
  shape: number[];
  channelIdx: number | null;
  options: { layerName: string | null };
}

/** An upload_numpy's whole array work (runUpload): its .npy data goes over in its own dtype. */
export interface OffloadUpload extends Base, UploadWork {
  op: 'upload';
}

export type OffloadRequest = OffloadCalibrate | OffloadQuantize | OffloadDequantize | OffloadComputeParams | OffloadUpload;

export type QuantizeDequantizeResult = ReturnType<Quantizer['quantizeDequantize']>;

/** What each operation answers with; `effects` is what the live instance must take on (Quantizer.applyCopyEffects). */
export interface OffloadResults {
  calibrate: { report: CalibrationReport; parameters: unknown };
  quantize: { result: QuantizeResult; effects: CopyEffects };
  quantize_dequantize: { result: QuantizeDequantizeResult; effects: CopyEffects };
  dequantize: { result: DequantizeResult; effects: CopyEffects };
  compute_params: { result: ScaleAndZeroPoint };
  upload: { answer: UploadAnswer; effects: CopyEffects };
}

export type OffloadOp = keyof OffloadResults;

export interface OffloadError {
  name: string;
  code?: string;
  message: string;
  details?: Record<string, unknown>;
}

export type OffloadReply = { id: number; ok: true; value: OffloadResults[OffloadOp] } | { id: number; ok: false; error: OffloadError };

/**
 * The buffers of a result's large arrays (codes, values, an upload's .npy), to transfer rather than
 * copy. Each is the worker's own: fresh outputs, or the input it was handed (a pass-through returns it).
 */
export function resultTransferList(value: OffloadResults[OffloadOp]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  const r = (value as { result?: { codes?: unknown; values?: unknown } }).result;
  const npy = (value as { answer?: { npy?: unknown } }).answer?.npy;
  for (const a of [r?.codes, r?.values, npy]) {
    if (ArrayBuffer.isView(a) && a.buffer instanceof ArrayBuffer && !out.includes(a.buffer)) out.push(a.buffer);
  }
  return out;
}
