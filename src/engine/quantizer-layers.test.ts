import { describe, expect, test } from 'vitest';
import { QuantError } from '../core/errors.js';
import { inferTensorRole, resolveLayerConfig } from './layer-config.js';
import { parseQuantizerConfig } from './config.js';
import { Quantizer } from './quantizer.js';

const data = [[-1, 0.5], [2, 3]];

describe('per-layer settings', () => {
  test('skipLayers pass through unquantized', () => {
    const q = new Quantizer({ skipLayers: ['head'] });
    const r = q.quantize(data, { layerName: 'head' });
    expect(r.kind).toBe('none');
    expect(r.layer.passThrough).toBe('skip-layer');
    expect(Array.from(r.codes)).toEqual([-1, 0.5, 2, 3]);
    expect(q.quantize(data, { layerName: 'body' }).kind).toBe('integer');
    expect(q.dequantize([[1.5]], { layerName: 'head' }).values[0]).toBe(1.5);
  });

  test('mixedPrecisionLayers get INT16 (default) or FLOAT16 when MIXED or enableMixedPrecision', () => {
    const mixed = new Quantizer({ quantizationType: 'MIXED', mixedPrecisionLayers: ['attn'] });
    const hi = mixed.quantize(data, { layerName: 'attn' });
    expect(hi.quantizationType).toBe('INT16');
    expect(hi.codes).toBeInstanceOf(Int16Array);
    const lo = mixed.quantize(data, { layerName: 'mlp' });
    expect(lo.quantizationType).toBe('INT8');
    expect(mixed.quantize(data).quantizationType).toBe('INT8');
    const f16 = new Quantizer({ enableMixedPrecision: true, mixedPrecisionType: 'FLOAT16', mixedPrecisionLayers: ['attn'] });
    expect(f16.quantize(data, { layerName: 'attn' }).kind).toBe('float16');
    // Listed but mixed precision off: the instance type.
    expect(new Quantizer({ mixedPrecisionLayers: ['attn'] }).quantize(data, { layerName: 'attn' }).quantizationType).toBe('INT8');
  });

  test('customQuantizationConfig overrides type, bits, symmetric and perChannel', () => {
    const q = new Quantizer({ customQuantizationConfig: { fc: { quantizationType: 'UINT8', numBits: 4, symmetric: true, perChannel: true } }, mixedPrecisionLayers: ['fc'], enableMixedPrecision: true });
    const r = q.quantize(data, { layerName: 'fc' });
    if (r.kind !== 'integer') throw new Error('integer expected');
    expect(r.dtype).toBe('uint4');
    expect(r.params!.symmetric).toBe(true);
    expect(r.params!.granularity).toEqual({ kind: 'per-axis', axis: 0 });
    expect(r.layer.source).toBe('custom');
    const bits = new Quantizer({ numBits: 6, customQuantizationConfig: { fc: { symmetric: true } } }).quantize(data, { layerName: 'fc' });
    expect(bits.dtype).toBe('int6');
  });

  test('quantizeBias and quantizeWeightsOnly pass biases and activations through, by role or name', () => {
    const q = new Quantizer({ quantizeBias: false, quantizeWeightsOnly: true });
    expect(q.quantize(data, { layerName: 'fc1.bias' }).layer.passThrough).toBe('bias-not-quantized');
    expect(q.quantize(data, { layerName: 'x', role: 'bias' }).kind).toBe('none');
    expect(q.quantize(data, { layerName: 'relu_out', role: 'activation' }).layer.passThrough).toBe('activation-not-quantized');
    expect(q.quantize(data, { layerName: 'fc1.weight' }).kind).toBe('integer');
    expect(new Quantizer().quantize(data, { layerName: 'fc1.bias' }).kind).toBe('integer');
    expect(inferTensorRole('conv1_bias')).toBe('bias');
    expect(inferTensorRole('conv1.weight')).toBe('weight');
    expect(inferTensorRole('biased')).toBeNull();
  });

  test('getLayerParams shows the effective config and the parameters of a layer', () => {
    const q = new Quantizer({ quantizationType: 'MIXED', mixedPrecisionLayers: ['attn'] });
    expect(q.getLayerParams('attn')).toMatchObject({ layerName: 'attn', effective: { quantizationType: 'INT16', numBits: 16, source: 'mixed-precision' }, active: null, last: null, calibrated: null });
    const r = q.quantize(data, { layerName: 'attn' });
    const lp = q.getLayerParams('attn');
    expect(lp.last!.scale).toEqual(Array.from(r.params!.scale));
    expect(lp.active).toEqual(lp.last);
    expect(q.getLayerParams('other').last).toBeNull();
    q.calibrate([data], { layerName: 'attn' });
    expect(q.getLayerParams('attn').calibrated!.dtype).toBe('int16');
  });

  test('in CALIBRATED mode a layer uses its own calibration, else the instance one when the dtype matches', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', customQuantizationConfig: { wide: { quantizationType: 'INT16' } } });
    q.calibrate([[-1, 1]]);
    expect(q.quantize([0.5], { layerName: 'any' }).params!.dtype).toBe('int8');
    expect(() => q.quantize([0.5], { layerName: 'wide' })).toThrow(/calibrated int16 parameters for layer 'wide': call calibrate with layerName 'wide'/);
    q.calibrate([[-4, 4]], { layerName: 'wide' });
    expect(q.quantize([0.5], { layerName: 'wide' }).params!.dtype).toBe('int16');
    // The layer's last parameters are what dequantize without params uses in dynamic modes.
    const d = new Quantizer();
    const r = d.quantize([[-8, 8]], { layerName: 'a' });
    d.quantize([[-1, 1]], { layerName: 'b' });
    const viaLayer = Array.from(d.dequantize(r.codes, { layerName: 'a' }).values);
    expect(viaLayer).toEqual(Array.from(d.dequantize(r.codes, { params: r.params! }).values));
    expect(viaLayer).not.toEqual(Array.from(d.dequantize(r.codes, { layerName: 'b' }).values));
  });
});

test('resolveLayerConfig precedence: skip > role > custom > mixed > instance', () => {
  const cfg = parseQuantizerConfig({ quantizationType: 'MIXED', skipLayers: ['s'], mixedPrecisionLayers: ['m', 'c', 's'], customQuantizationConfig: { c: { numBits: 4 }, s: { numBits: 4 } } });
  expect(resolveLayerConfig(cfg, 's').passThrough).toBe('skip-layer');
  expect(resolveLayerConfig(cfg, 'c')).toMatchObject({ quantizationType: 'INT8', numBits: 4, dtype: 'int4', source: 'custom' });
  expect(resolveLayerConfig(cfg, 'm')).toMatchObject({ quantizationType: 'INT16', dtype: 'int16', source: 'mixed-precision' });
  expect(resolveLayerConfig(cfg)).toMatchObject({ quantizationType: 'INT8', dtype: 'int8', source: 'instance', layerName: null });
  expect(resolveLayerConfig(parseQuantizerConfig({ quantizationType: 'NONE' })).passThrough).toBe('type-none');
  expect(() => new Quantizer({ customQuantizationConfig: { c: { numBits: 40 } } })).toThrow(QuantError);
});
