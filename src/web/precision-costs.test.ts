import { describe, expect, it } from 'vitest';
import { fakeQuantize } from '../core/quantize.js';
import { Quantizer } from '../engine/quantizer.js';
import { errorMeasures } from '../core/error-measures.js';
import { instanceCost, presetCost } from './precision-costs.js';
import { sampleActivations } from './sample-data.js';

const { data: x, shape } = sampleActivations(8, 32);

describe('presetCost', () => {
  it('int8/uint8/int4 per tensor cost what the core fake-quantize gives, with their codes to download', () => {
    for (const dtype of ['int8', 'uint8', 'int4'] as const) {
      const c = presetCost(x, shape, dtype);
      expect(c.measures).toEqual(errorMeasures(x, fakeQuantize(x, shape, { dtype }).values));
      expect(c.output.shape).toEqual(shape);
      expect(c.output.dtype).toBe(dtype === 'uint8' ? 'uint8' : 'int8');
    }
    // Fewer levels, more error.
    expect(presetCost(x, shape, 'int4').measures.mse).toBeGreaterThan(presetCost(x, shape, 'int8').measures.mse);
  });
});

describe('instanceCost', () => {
  it('runs the engine with an instance config (snake_case) and its exported calibrated parameters', () => {
    const service = new Quantizer({ quantizationType: 'UINT8', quantizationMode: 'CALIBRATED' });
    service.calibrate({ data: x.map((v) => v * 0.5), shape });
    const c = instanceCost('instance a', x, shape, { quantization_type: 'UINT8', quantization_mode: 'CALIBRATED' }, service.exportParameters());
    const r = service.quantizeDequantize({ data: x, shape });
    expect(c.measures).toEqual(errorMeasures(x, r.values));
    expect(c.output.dtype).toBe('uint8');
    expect(c.params?.scale[0]).toBe(r.params?.scale[0]);
  });

  it('FLOAT16 configs have no scale and save float16; a CALIBRATED config without parameters says so', () => {
    const c = instanceCost('f16', x, shape, { quantization_type: 'FLOAT16' }, null);
    expect(c.params).toBeNull();
    expect(c.output.dtype).toBe('float16');
    expect(() => instanceCost('cal', x, shape, { quantization_mode: 'CALIBRATED' }, null)).toThrow(/calibrate/);
  });
});
