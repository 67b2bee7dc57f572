import { errorMeasures } from '../../core/error-measures.js';
import { float16BitsToFloat32 } from '../../core/float16.js';
import type { QParams } from '../../core/qparams.js';
import type { NpyData, NpyDtype } from '../../formats/npy.js';
import { encodeNpy, toFloat32 } from '../../formats/npy.js';
import type { QuantizeResult, Quantizer } from '../../engine/quantizer.js';

export type UploadOp = 'quantize' | 'dequantize' | 'quantize_dequantize';

/** What upload_numpy asks of the worker: the decoded .npy as it came, and whether the answer is the .npy. */
export interface UploadWork {
  operation: UploadOp;
  /** The .npy's data as decoded (native byte order, C order), in its own dtype: the worker converts it. */
  data: NpyData;
  dtype: NpyDtype;
  shape: number[];
  options: { validate: boolean; channelDim: number | null; layerName: string | null };
  download: boolean;
}

/** An upload's answer less its array: the figures of the JSON answer, or the .npy of a download. */
export interface UploadAnswer {
  resultDtype: 'int8' | 'uint8' | 'int16' | 'uint16' | 'float16' | 'float32';
  params: QParams | null;
  quantizationType: QuantizeResult['quantizationType'] | null;
  clipped: number | null;
  /** Whether the instance must save its parameters (a calibrated instance widened its range). */
  requantized: boolean;
  inputRange: { min: number; max: number } | null;
  resultRange: { min: number; max: number } | null;
  errors: ErrorFields | null;
  /** The answer's .npy (download=true), else null. */
  npy: Uint8Array | null;
}

export type ErrorFields = { mse: number | null; sqnr_db: number | null; max_abs_error: number | null };

/** Smallest and largest element (NaN never wins a comparison, so it is skipped). */
export function range(x: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** The error measures in the contract's snake_case, null where JSON has no number (an exact SQNR, no finite value). */
export function errorFields(x: Float32Array, xhat: Float32Array): ErrorFields {
  const m = errorMeasures(x, xhat);
  if (m.count === 0) return { mse: null, sqnr_db: null, max_abs_error: null };
  return { mse: m.mse, sqnr_db: Number.isFinite(m.sqnrDb) ? m.sqnrDb : null, max_abs_error: m.maxAbsError };
}

/**
 * The whole of an upload's array work on one quantizer (the offload worker's copy of an instance):
 * the conversion to float32, the operation, the restore of a quantize's codes (a dequantize the
 * instance counts), ranges, error figures and, for a download, the answer's .npy. Every pass over
 * the array runs here, none on the event loop; the figures are those the route computes inline.
 * What it changed on q (parameters, statistics) the worker reports as for any call.
 */
export function runUpload(q: Quantizer, w: UploadWork): UploadAnswer {
  const x = toFloat32({ dtype: w.dtype, shape: w.shape, data: w.data });
  const inputRange = w.download ? null : range(x);
  let out: Float32Array | Uint16Array | Int8Array | Uint8Array | Int16Array;
  let resultDtype: UploadAnswer['resultDtype'];
  let restored: Float32Array | null;
  let answer: Omit<UploadAnswer, 'resultDtype' | 'inputRange' | 'resultRange' | 'errors' | 'npy'>;
  if (w.operation === 'quantize') {
    const r = q.quantize({ data: x, shape: w.shape }, w.options);
    // float16 codes are their own values, so a float16 quantize reports its error figures too.
    restored =
      r.kind === 'float16'
        ? float16BitsToFloat32(r.codes as Uint16Array)
        : r.params === null
          ? null
          : q.dequantize({ data: r.codes as Int8Array, shape: r.shape }, { params: r.params, channelDim: w.options.channelDim, layerName: w.options.layerName }).values;
    out = r.codes as typeof out;
    resultDtype =
      r.kind === 'none' ? 'float32' : r.kind === 'float16' ? 'float16' : out instanceof Int8Array ? 'int8' : out instanceof Uint8Array ? 'uint8' : out instanceof Int16Array ? 'int16' : 'uint16';
    answer = { params: r.params, quantizationType: r.quantizationType, clipped: r.clipped, requantized: r.requantized };
  } else if (w.operation === 'dequantize') {
    const r = q.dequantize({ data: x, shape: w.shape }, { channelDim: w.options.channelDim, layerName: w.options.layerName });
    out = r.values;
    resultDtype = 'float32';
    restored = null;
    answer = { params: r.params, quantizationType: null, clipped: null, requantized: false };
  } else {
    const r = q.quantizeDequantize({ data: x, shape: w.shape }, w.options);
    out = r.values;
    resultDtype = 'float32';
    restored = r.values;
    answer = { params: r.params, quantizationType: r.quantizationType, clipped: r.clipped, requantized: r.requantized };
  }
  if (w.download) {
    const npy = encodeNpy({ dtype: resultDtype, shape: [...w.shape], data: out });
    return { ...answer, resultDtype, inputRange, resultRange: null, errors: null, npy };
  }
  // A float16 instance's codes are float16 bits; their range is that of the values they hold.
  const resultRange = range(resultDtype === 'float16' ? float16BitsToFloat32(out as Uint16Array) : out);
  const errors = restored === null ? null : errorFields(x, restored);
  return { ...answer, resultDtype, inputRange, resultRange, errors, npy: null };
}
