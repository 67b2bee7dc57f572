import { QuantError } from '../core/errors.js';
import { normalizeAxis } from '../core/layout.js';
import type { QParams } from '../core/qparams.js';
import { qparamsFromRange } from '../core/quantize.js';
import type { QuantizerConfig } from './config.js';
import type { EffectiveLayerConfig } from './layer-config.js';
import { resolveLayerConfig } from './layer-config.js';
import { calibratedKeyFor, DEFAULT_KEY, defaultAxis, symmetricFor } from './mode-policy.js';
import type { CalibratedEntry } from './quantizer-types.js';
import { axisOf, rangeMethodOf } from './range-estimator.js';

/** The calibrated and last-used parameters of an instance, per layer key ("" is the instance). */
export interface ParameterState {
  readonly calibrated: ReadonlyMap<string, CalibratedEntry>;
  readonly last: ReadonlyMap<string, QParams>;
}

/** The parameters quantize would use without data (CALIBRATED: calibrated, else the last used), or null. */
export function activeParams(cfg: QuantizerConfig, state: ParameterState, key: string, layer: EffectiveLayerConfig): QParams | null {
  if (cfg.quantizationMode === 'CALIBRATED') {
    if (layer.dtype === null || layer.passThrough) return null;
    try {
      return state.calibrated.get(calibratedKeyFor(state.calibrated, key, layer, cfg))!.params;
    } catch {
      return null;
    }
  }
  return state.last.get(key) ?? null;
}

/**
 * The parameter state under the config `next`: calibrated ranges are kept and their parameters
 * recomputed for the new scheme; a layer whose range no longer applies (other channel axis or range
 * method, or now unquantized) loses its calibration; last-used parameters of a dtype the layer no
 * longer quantizes to are dropped.
 */
export function parametersUnder(next: QuantizerConfig, state: ParameterState): { calibrated: Map<string, CalibratedEntry>; last: Map<string, QParams> } {
  const calibrated = new Map<string, CalibratedEntry>();
  for (const [key, entry] of state.calibrated) {
    const moved = recalibrateFor(next, key, entry);
    if (moved) calibrated.set(key, moved);
  }
  const last = new Map<string, QParams>();
  for (const [key, p] of state.last) {
    // The same test importParameters applies: codes of another dtype cannot be dequantized by this config.
    if (resolveLayerConfig(next, key === DEFAULT_KEY ? undefined : key).dtype === p.dtype) last.set(key, p);
  }
  return { calibrated, last };
}

function recalibrateFor(cfg: QuantizerConfig, key: string, entry: CalibratedEntry): CalibratedEntry | null {
  const layer = resolveLayerConfig(cfg, key === DEFAULT_KEY ? undefined : key);
  if (layer.passThrough || layer.dtype === null) return null;
  if (rangeMethodOf(cfg).name !== entry.method) return null;
  const wantAxis = defaultAxis(cfg, layer);
  const haveAxis = axisOf(entry.params.granularity);
  const normalized = wantAxis === undefined ? undefined : normalizeAxis(wantAxis, entry.shape.length);
  if (normalized !== haveAxis) return null;
  const params = qparamsFromRange(entry.min, entry.max, entry.shape, {
    dtype: layer.dtype,
    symmetric: symmetricFor(cfg, layer),
    granularity: entry.params.granularity,
  });
  return { ...entry, params };
}

/** INVALID_PARAMS unless every imported parameter set has the dtype cfg quantizes its layer to. */
export function checkImported(cfg: QuantizerConfig, state: ParameterState): void {
  const check = (key: string, p: QParams, what: string) => {
    const layer = resolveLayerConfig(cfg, key === DEFAULT_KEY ? undefined : key);
    if (layer.dtype !== p.dtype) {
      const who = key === DEFAULT_KEY ? 'the instance' : `layer '${key}'`;
      throw new QuantError('INVALID_PARAMS', `${what} parameters for ${who} are ${p.dtype}, but this quantizer quantizes it as ${layer.dtype ?? layer.quantizationType}`);
    }
  };
  for (const [k, e] of state.calibrated) check(k, e.params, 'calibrated');
  for (const [k, p] of state.last) check(k, p, 'last-used');
}
