import type { CodeArray } from '../core/dtypes.js';
import { getQuantDtype } from '../core/dtypes.js';
import { QuantError } from '../core/errors.js';
import { float16BitsToFloat32 } from '../core/float16.js';
import { outputArray } from '../core/output-array.js';
import type { QParams } from '../core/qparams.js';
import { dequantize } from '../core/quantize.js';
import type { QuantizerConfig } from './config.js';
import type { EffectiveLayerConfig } from './layer-config.js';
import { calibratedKeyFor, checkChannelDim, keyOf } from './mode-policy.js';
import type { CalibratedEntry, DequantizeOptions, DequantizeResult } from './quantizer-types.js';
import type { FloatTensor, TensorInput } from './tensor-input.js';
import { toCodeTensor, toFloatTensor } from './tensor-input.js';

/**
 * x̂ = (q − zeroPoint) · scale with the given parameters, else the layer's calibrated (CALIBRATED)
 * or last-used ones; float16 bits are widened; a pass-through layer's values come back as they are.
 */
export function dequantizeByPolicy(
  codes: TensorInput,
  cfg: QuantizerConfig,
  layer: EffectiveLayerConfig,
  calibrated: ReadonlyMap<string, CalibratedEntry>,
  last: ReadonlyMap<string, QParams>,
  options: DequantizeOptions,
): DequantizeResult {
  if (layer.passThrough) {
    const t = reshape(toFloatTensor(codes, 'codes'), options.shape);
    return { values: t.data, shape: t.shape, params: null };
  }
  if (layer.quantizationType === 'FLOAT16') {
    const t = toCodeTensor(codes, 'uint16', 0, 65535, 'float16 bits');
    const shape = reshapeCodes(t.codes.length, t.shape, options.shape);
    return { values: float16BitsToFloat32(t.codes as Uint16Array), shape, params: null };
  }
  const params = options.params ?? paramsForDequantize(keyOf(layer.layerName), layer, cfg, calibrated, last);
  const t = toCodeTensor(codes, getQuantDtype(params.dtype).storage, params.qmin, params.qmax);
  const shape = reshapeCodes(t.codes.length, t.shape, options.shape);
  checkChannelDim(options.channelDim, params, shape.length);
  return { values: dequantizeCodes(t.codes, shape, params), shape, params };
}

/** The kernel's dequantize into a new array (layoutForParams checks that the parameters fit). */
export function dequantizeCodes(codes: CodeArray, shape: readonly number[], params: QParams): Float32Array {
  return dequantize(codes, shape, params, { out: outputArray(Float32Array, codes.length) });
}

function paramsForDequantize(key: string, layer: EffectiveLayerConfig, cfg: QuantizerConfig, calibrated: ReadonlyMap<string, CalibratedEntry>, last: ReadonlyMap<string, QParams>): QParams {
  if (cfg.quantizationMode === 'CALIBRATED') return calibrated.get(calibratedKeyFor(calibrated, key, layer, cfg))!.params;
  const p = last.get(key);
  if (!p) {
    throw new QuantError(
      'NOT_CALIBRATED',
      `no parameters to dequantize ${layer.layerName === null ? '' : `layer '${layer.layerName}' `}with: pass the params a quantize returned, or quantize first`,
    );
  }
  return p;
}

function reshape(t: FloatTensor, shape: readonly number[] | undefined): FloatTensor {
  return shape ? { ...t, shape: reshapeCodes(t.data.length, t.shape, shape) } : t;
}

function reshapeCodes(n: number, have: readonly number[], want: readonly number[] | undefined): readonly number[] {
  if (!want) return have;
  const size = want.reduce((a, d) => a * d, 1);
  if (!want.every((d) => Number.isSafeInteger(d) && d >= 0) || size !== n) {
    throw new QuantError('SHAPE_MISMATCH', `shape [${want.join(', ')}] does not fit ${n} codes`);
  }
  return [...want];
}
