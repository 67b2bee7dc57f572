import { getQuantDtype } from '../core/dtypes.js';
import { float32ToFloat16Bits } from '../core/float16.js';
import { countFloat16Overflow } from '../core/count-clipped.js';
import { countNonFinite } from '../core/finite-scan.js';
import { blockLayout, PER_TENSOR } from '../core/layout.js';
import type { QParams } from '../core/qparams.js';
import { layoutForParams, qparamsFromRange, quantizeCounted } from '../core/quantize.js';
import type { QuantizerConfig } from './config.js';
import { rejectNonFinite, scanRange } from './finite-scan.js';
import type { EffectiveLayerConfig } from './layer-config.js';
import { calibratedKeyFor, checkChannelDim, granularityFor, keyOf, symmetricFor } from './mode-policy.js';
import type { CalibratedEntry, QuantizeResult, QuantizerQuantizeOptions } from './quantizer-types.js';
import { estimateRange, rangeMethodOf } from './range-estimator.js';
import type { FloatTensor } from './tensor-input.js';

/** What one quantize did beyond its result: the state the Quantizer takes on afterwards. */
export interface QuantizeOutcome {
  readonly result: QuantizeResult;
  /** NaN and ±Infinity values seen (0 when no scan ran). */
  readonly nonFinite: number;
  /** The calibrated entry a requantization widened (to replace the one under `key`), else null. */
  readonly widened: { readonly key: string; readonly entry: CalibratedEntry } | null;
}

/**
 * Quantizes one tensor as the mode and the layer's settings say, through the core's pipeline
 * (quantizeCounted: one staged copy with the range fused, NaN/clip counting): this function only
 * decides the policy (which parameters or which scheme and range method, what to reject) and
 * reads the calibrated parameters once, so a quantize never mixes two parameter sets.
 */
export function quantizeByPolicy(
  input: FloatTensor,
  cfg: QuantizerConfig,
  layer: EffectiveLayerConfig,
  calibrated: ReadonlyMap<string, CalibratedEntry>,
  options: QuantizerQuantizeOptions,
): QuantizeOutcome {
  const { data: x, shape } = input;
  if (layer.passThrough) {
    return { result: { kind: 'none', quantizationType: 'NONE', dtype: 'float32', codes: x, shape, params: null, layer, clipped: 0, requantized: false }, nonFinite: 0, widened: null };
  }
  if (layer.quantizationType === 'FLOAT16') {
    let nonFinite = 0;
    if (options.validate !== false) {
      const scan = scanRange(x, blockLayout([x.length], PER_TENSOR));
      rejectNonFinite(x, scan, cfg.errorOnNan, cfg.errorOnInf);
      nonFinite = scan.hasNaN || scan.hasInf ? countNonFinite(x) : 0;
    }
    const bits = float32ToFloat16Bits(x);
    return { result: { kind: 'float16', quantizationType: 'FLOAT16', dtype: 'float16', codes: bits, shape, params: null, layer, clipped: countFloat16Overflow(x, bits), requantized: false }, nonFinite, widened: null };
  }
  const dtype = getQuantDtype(layer.dtype!);
  const checkScan = (v: Float32Array, scan: Parameters<typeof rejectNonFinite>[1]) => rejectNonFinite(v, scan, cfg.errorOnNan, cfg.errorOnInf);
  if (cfg.quantizationMode !== 'CALIBRATED') {
    const granularity = granularityFor(cfg, layer, shape.length, options.channelDim);
    const method = rangeMethodOf(cfg);
    const r = quantizeCounted(x, shape, {
      dtype: dtype.name,
      symmetric: symmetricFor(cfg, layer),
      granularity,
      checkScan,
      range: (v, scan, layout) => estimateRange(method, v, shape, layout, granularity, scan, { dtype: dtype.name }),
      countClipped: true,
    });
    return { result: integerResult(r.codes, r.params, r.clipped, false, shape, layer), nonFinite: r.nonFinite, widened: null };
  }
  const entryKey = calibratedKeyFor(calibrated, keyOf(layer.layerName), layer, cfg);
  const entry = calibrated.get(entryKey)!;
  layoutForParams(x.length, shape, entry.params);
  checkChannelDim(options.channelDim, entry.params, shape.length);
  const scan = options.validate !== false;
  const r = quantizeCounted(x, shape, { params: entry.params, scan, checkScan, countClipped: true });
  if (!cfg.enableRequantization || r.clipped / x.length <= cfg.requantizationThreshold) {
    return { result: integerResult(r.codes, r.params, r.clipped, false, shape, layer), nonFinite: r.nonFinite, widened: null };
  }
  // Requantization: the running range grows to cover x and the parameters are recomputed from it.
  const seen = estimateRange({ name: 'minmax' }, x, shape, r.layout, entry.params.granularity, r.scan ?? scanRange(x, r.layout));
  const min = entry.min.slice();
  const max = entry.max.slice();
  for (let p = 0; p < min.length; p++) {
    if (seen.min[p] < min[p]) min[p] = seen.min[p];
    if (seen.max[p] > max[p]) max[p] = seen.max[p];
  }
  const p = entry.params;
  const params = qparamsFromRange(min, max, shape, { dtype: p.dtype, symmetric: p.symmetric, narrow: p.narrow, granularity: p.granularity });
  const again = quantizeCounted(x, shape, { params, scan, checkScan, countClipped: true });
  return {
    result: integerResult(again.codes, params, again.clipped, true, shape, layer),
    nonFinite: again.nonFinite,
    widened: { key: entryKey, entry: { ...entry, params, min, max } },
  };
}

function integerResult(codes: QuantizeResult['codes'], params: QParams, clipped: number, requantized: boolean, shape: readonly number[], layer: EffectiveLayerConfig): QuantizeResult {
  return { kind: 'integer', quantizationType: layer.quantizationType, dtype: params.dtype, codes: codes as never, shape, params, layer, clipped, requantized } as QuantizeResult;
}
