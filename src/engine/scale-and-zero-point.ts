import { QuantError } from '../core/errors.js';
import type { Granularity } from '../core/layout.js';
import { axisGranularity, blockLayout, normalizeAxis, PER_TENSOR } from '../core/layout.js';
import { qparamsFromRange } from '../core/quantize.js';
import type { QuantizerConfig } from './config.js';
import { rejectNonFinite, scanRange } from './finite-scan.js';
import type { EffectiveLayerConfig } from './layer-config.js';
import { defaultAxis, granularityFor, symmetricFor } from './mode-policy.js';
import type { ScaleAndZeroPoint } from './quantizer-types.js';
import { estimateRange, rangeMethodOf } from './range-estimator.js';
import type { FloatTensor } from './tensor-input.js';

/**
 * The scale and zero point the mode would choose for `input`, changing nothing. With channelIdx,
 * those of that one channel along channelDim (the option, else config.channelDim). `input` is
 * read only once the layer is known to have parameters.
 */
export function scaleAndZeroPointFor(input: () => FloatTensor, cfg: QuantizerConfig, layer: EffectiveLayerConfig, channelIdx: number | null | undefined, channelDim: number | null | undefined): ScaleAndZeroPoint {
  if (layer.dtype === null || layer.passThrough) {
    throw new QuantError('UNSUPPORTED', `${layer.passThrough ? `layer '${layer.layerName}' is not quantized (${layer.passThrough})` : `${layer.quantizationType} has no scale or zero point`}`);
  }
  let { data: x, shape } = input();
  let granularity: Granularity;
  if (channelIdx !== undefined && channelIdx !== null) {
    const axis = normalizeAxis(channelDim ?? cfg.channelDim, shape.length);
    if (!Number.isInteger(channelIdx) || channelIdx < 0 || channelIdx >= shape[axis]) {
      throw new QuantError('AXIS_OUT_OF_RANGE', `channelIdx ${channelIdx} is out of range for ${shape[axis]} channels along axis ${axis}`);
    }
    x = sliceChannel(x, shape, axis, channelIdx);
    shape = [x.length];
    granularity = PER_TENSOR;
  } else if (cfg.quantizationMode === 'CALIBRATED') {
    granularity = axisGranularity(channelDim ?? defaultAxis(cfg, layer), shape.length);
  } else {
    granularity = granularityFor(cfg, layer, shape.length, channelDim);
  }
  const layout = blockLayout(shape, granularity);
  const scan = scanRange(x, layout);
  rejectNonFinite(x, scan, cfg.errorOnNan, cfg.errorOnInf);
  const { min, max } = estimateRange(rangeMethodOf(cfg), x, shape, layout, granularity, scan, { dtype: layer.dtype });
  const params = qparamsFromRange(min, max, shape, { dtype: layer.dtype, symmetric: symmetricFor(cfg, layer), granularity });
  return { scale: params.scale[0], zeroPoint: params.zeroPoint[0], scales: Array.from(params.scale), zeroPoints: Array.from(params.zeroPoint), params };
}

/** The values of one channel along `axis`, in C order. */
function sliceChannel(x: Float32Array, shape: readonly number[], axis: number, c: number): Float32Array {
  const inner = shape.slice(axis + 1).reduce((a, d) => a * d, 1);
  const len = shape[axis];
  const outer = x.length / (inner * len);
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) out.set(x.subarray((o * len + c) * inner, (o * len + c + 1) * inner), o * inner);
  return out;
}
