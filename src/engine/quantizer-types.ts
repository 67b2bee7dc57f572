// The shapes of what the Quantizer takes and returns (quantizer.ts), kept apart from its logic.
import type { CodeArray, QuantDtypeName } from '../core/dtypes.js';
import type { QParams } from '../core/qparams.js';
import type { ParamsFileV1 } from '../formats/params-file.js';
import type { CalibrationMeasures } from './calibration-report.js';
import type { QuantizationType, QuantizerConfig } from './config.js';
import type { EffectiveLayerConfig, TensorRole } from './layer-config.js';
import type { QuantizerStats } from './quantizer-stats.js';
import type { RangeMethod } from './range-estimator.js';

export interface QuantizerQuantizeOptions {
  /** Scan for NaN/Inf before quantizing with fixed (calibrated) parameters; default true. Dynamic modes always scan (the range pass does it). */
  readonly validate?: boolean;
  /** Quantize per channel along this axis (negative counts from the end); null/undefined = the mode's default. */
  readonly channelDim?: number | null;
  readonly layerName?: string | null;
  /** What the tensor is (for quantizeBias / quantizeWeightsOnly); inferred from layerName when absent. */
  readonly role?: TensorRole;
}

export interface DequantizeOptions {
  readonly channelDim?: number | null;
  readonly layerName?: string | null;
  readonly role?: TensorRole;
  /** The parameters the codes were made with (a quantize result's params); default the layer's calibrated (CALIBRATED) or last-used ones. */
  readonly params?: QParams;
  /** Shape of flat codes (a typed array or number[] is otherwise rank 1). */
  readonly shape?: readonly number[];
}

interface ResultBase {
  readonly shape: readonly number[];
  readonly layer: EffectiveLayerConfig;
}

/** What quantize returns: the codes and, for integer types, exactly the parameters they were made with. */
export type QuantizeResult =
  | (ResultBase & { readonly kind: 'integer'; readonly quantizationType: QuantizationType; readonly dtype: QuantDtypeName; readonly codes: CodeArray; readonly params: QParams; readonly clipped: number; readonly requantized: boolean })
  | (ResultBase & { readonly kind: 'float16'; readonly quantizationType: 'FLOAT16'; readonly dtype: 'float16'; readonly codes: Uint16Array; readonly params: null; readonly clipped: number; readonly requantized: false })
  | (ResultBase & { readonly kind: 'none'; readonly quantizationType: 'NONE'; readonly dtype: 'float32'; readonly codes: Float32Array; readonly params: null; readonly clipped: 0; readonly requantized: false });

export interface DequantizeResult {
  readonly values: Float32Array;
  readonly shape: readonly number[];
  readonly params: QParams | null;
}

export interface ScaleAndZeroPoint {
  /** Parameter 0 (the only one per-tensor). */
  readonly scale: number;
  readonly zeroPoint: number;
  readonly scales: number[];
  readonly zeroPoints: number[];
  readonly params: QParams;
}

export interface CalibrationReport extends CalibrationMeasures {
  readonly layerName: string | null;
  readonly method: RangeMethod['name'];
  readonly dtype: QuantDtypeName;
  readonly symmetric: boolean;
  readonly axis: number | null;
  readonly batches: number;
  readonly scale: number;
  readonly zeroPoint: number;
  readonly scales: number[];
  readonly zeroPoints: number[];
  /** The chosen clipping range (over all channels per-channel). */
  readonly min: number;
  readonly max: number;
  /** The extremes of the finite data seen. */
  readonly observedMin: number;
  readonly observedMax: number;
  readonly params: QParams;
}

export interface CalibrateOptions {
  readonly layerName?: string | null;
  readonly role?: TensorRole;
  /** Per-channel calibration along this axis (default: config.channelDim when perChannel or PER_CHANNEL, else per-tensor). */
  readonly channelDim?: number | null;
}

/** What one call on a copy of a Quantizer changed, for the original to take on (Quantizer.applyCopyEffects). */
export interface CopyEffects {
  /** The copy's exportParameters() after the call; absent for calls that change no parameters (dequantize). */
  readonly parameters?: unknown;
  /** The copy's getStats() after the call: it started fresh, so its counts are the call's. */
  readonly stats: QuantizerStats;
}

/** Calibrated state of one layer: an immutable snapshot, replaced whole (never mutated). */
export interface CalibratedEntry {
  readonly params: QParams;
  /** The running range (what requantization widens and config changes recompute parameters from). */
  readonly min: Float32Array;
  readonly max: Float32Array;
  readonly shape: readonly number[];
  readonly method: RangeMethod['name'];
}

export interface LayerParams {
  readonly layerName: string | null;
  readonly quantizationMode: QuantizerConfig['quantizationMode'];
  readonly effective: EffectiveLayerConfig;
  /** The parameters quantize would use now without data (CALIBRATED: calibrated; otherwise the last used), or null. */
  readonly active: ParamsFileV1 | null;
  readonly calibrated: ParamsFileV1 | null;
  readonly last: ParamsFileV1 | null;
}
