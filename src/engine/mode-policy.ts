import { QuantError } from '../core/errors.js';
import type { Granularity } from '../core/layout.js';
import { axisGranularity, normalizeAxis } from '../core/layout.js';
import type { QParams } from '../core/qparams.js';
import type { QuantizerConfig } from './config.js';
import type { EffectiveLayerConfig } from './layer-config.js';
import { axisOf } from './range-estimator.js';
import type { CalibratedEntry } from './quantizer-types.js';

/** The key of the instance's own parameters (layers are keyed by name). */
export const DEFAULT_KEY = '';

export function keyOf(layerName: string | null | undefined): string {
  return layerName ?? DEFAULT_KEY;
}

/** Whether the mode quantizes the layer symmetrically (SYMMETRIC / ASYMMETRIC override the layer). */
export function symmetricFor(cfg: QuantizerConfig, layer: EffectiveLayerConfig): boolean {
  if (cfg.quantizationMode === 'SYMMETRIC') return true;
  if (cfg.quantizationMode === 'ASYMMETRIC') return false;
  return layer.symmetric;
}

/** The channel axis a layer is quantized along when the call names none (undefined = per tensor). */
export function defaultAxis(cfg: QuantizerConfig, layer: EffectiveLayerConfig): number | undefined {
  if (cfg.quantizationMode === 'DYNAMIC_PER_BATCH') return 0;
  return cfg.quantizationMode === 'PER_CHANNEL' || layer.perChannel ? cfg.channelDim : undefined;
}

/** The granularity a dynamic mode quantizes data of rank `rank` with (DYNAMIC_PER_BATCH: one row each). */
export function granularityFor(cfg: QuantizerConfig, layer: EffectiveLayerConfig, rank: number, channelDim: number | null | undefined): Granularity {
  if (cfg.quantizationMode === 'DYNAMIC_PER_BATCH') {
    if (channelDim !== undefined && channelDim !== null && normalizeAxis(channelDim, rank) !== 0) {
      throw new QuantError('INVALID_ARGUMENT', `DYNAMIC_PER_BATCH quantizes each row along axis 0; channelDim ${channelDim} is not axis 0`);
    }
    if (rank === 0) throw new QuantError('SHAPE_MISMATCH', 'DYNAMIC_PER_BATCH needs data of rank >= 1 (rows along axis 0), got a scalar');
    return axisGranularity(0, rank);
  }
  return axisGranularity(channelDim ?? defaultAxis(cfg, layer), rank);
}

/** Rejects a call's channelDim that disagrees with the axis of the parameters it would use. */
export function checkChannelDim(channelDim: number | null | undefined, params: QParams, rank: number): void {
  if (channelDim === undefined || channelDim === null) return;
  const axis = normalizeAxis(channelDim, rank);
  const have = axisOf(params.granularity);
  if (have !== axis) {
    throw new QuantError('SHAPE_MISMATCH', `channelDim ${channelDim} asks for per-channel parameters along axis ${axis}, but the parameters are ${have === undefined ? 'per-tensor' : `along axis ${have}`}`);
  }
}

/** Which calibrated entry a layer uses: its own, else the instance's when the scheme matches. */
export function calibratedKeyFor(calibrated: ReadonlyMap<string, CalibratedEntry>, key: string, layer: EffectiveLayerConfig, cfg: QuantizerConfig): string {
  const symmetric = symmetricFor(cfg, layer);
  for (const k of key === DEFAULT_KEY ? [key] : [key, DEFAULT_KEY]) {
    const e = calibrated.get(k);
    if (e && e.params.dtype === layer.dtype && e.params.symmetric === symmetric) return k;
  }
  const who = layer.layerName === null ? 'this quantizer' : `layer '${layer.layerName}'`;
  throw new QuantError(
    'NOT_CALIBRATED',
    `CALIBRATED mode needs calibrated ${layer.dtype}${symmetric ? ' symmetric' : ''} parameters for ${who}: call calibrate${layer.layerName === null ? '' : ` with layerName '${layer.layerName}'`} (or importParameters) first`,
  );
}
