import type { CalibrateOptions, CalibrationReport, DequantizeResult, QuantizeResult, Quantizer, QuantizerQuantizeOptions, ScaleAndZeroPoint } from '../../engine/quantizer.js';
import type { QuantizerStats } from '../../engine/quantizer-stats.js';
import type { UploadAnswer, UploadWork } from './offload-upload.js';

/**
 * Which of the worker's cached instance copies a request runs on, and what brings it up to date.
 * The worker keeps one Quantizer per instance key, tagged with a token it hands out after every
 * request; the main thread remembers, per instance, the token and the state that copy holds, and
 * sends only what its instance changed since (nothing, the changed layers' entries, or for a config
 * change, an import or a worker that lost its copy, the whole state).
 */
export interface InstanceSync {
  /** The instance's cache key: unique per instance object, so a deleted id created anew is another key. */
  key: number;
  /** The token of the copy `state` applies to (null with a whole state, which needs no copy). */
  base: number | null;
  state: { kind: 'whole'; config: unknown; parameters: unknown } | { kind: 'changes'; parameters: unknown } | null;
}

/**
 * Arrays travel as typed arrays whose buffers are transferred (never JSON); a view keeps its offset
 * inside the transferred buffer.
 */
interface Base {
  id: number;
  instance: InstanceSync;
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

/** Messages that run no work: forget an instance's copy (it was deleted), or list the keys held. */
export type OffloadControl = { op: 'drop'; key: number } | { op: 'held'; id: number };

export type QuantizeDequantizeResult = ReturnType<Quantizer['quantizeDequantize']>;

/** What each operation answers with. */
export interface OffloadValues {
  calibrate: CalibrationReport;
  quantize: QuantizeResult;
  quantize_dequantize: QuantizeDequantizeResult;
  dequantize: DequantizeResult;
  compute_params: ScaleAndZeroPoint;
  upload: UploadAnswer;
}

export type OffloadOp = keyof OffloadValues;

export interface OffloadError {
  name: string;
  code?: string;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * The worker's answer. `held` is the token of the copy it keeps now. A run answers with what the
 * call changed on that copy: the changed parameter entries (a partial export for
 * Quantizer.mergeParameters, or null) and the call's statistics (the copy's were reset before it).
 * `stale`: the worker has no copy at `base` (it restarted, or let the copy go); the input comes
 * back untouched so the request can be sent again with the whole state.
 */
export type OffloadReply =
  | { id: number; ok: true; value: OffloadValues[OffloadOp]; held: number; changes: unknown; stats: QuantizerStats }
  | { id: number; ok: false; error: OffloadError; held: number | null }
  | { id: number; ok: false; stale: true; input: ArrayBufferView }
  | { id: number; ok: true; keys: number[] };

/** The field of each request that holds its array (transferred, never copied). */
export function inputField(op: OffloadOp): 'x' | 'codes' | 'data' {
  return op === 'dequantize' ? 'codes' : op === 'upload' ? 'data' : 'x';
}

/**
 * The buffers of a value's large arrays (codes, values, an upload's .npy), to transfer rather than
 * copy. Each is the worker's own: fresh outputs, or the input it was handed (a pass-through returns it).
 */
export function resultTransferList(value: OffloadValues[OffloadOp]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  const r = value as { codes?: unknown; values?: unknown; npy?: unknown };
  for (const a of [r.codes, r.values, r.npy]) {
    if (ArrayBuffer.isView(a) && a.buffer instanceof ArrayBuffer && !out.includes(a.buffer)) out.push(a.buffer);
  }
  return out;
}
