import fc from 'fast-check';
import { describe, expect, test, vi } from 'vitest';
import { QUANTIZATION_MODES, QUANTIZATION_TYPES } from './config.js';
import { Quantizer } from './quantizer.js';

// Beyond vitest's 5 s default on a 2-core machine: this file runs 300 property cases, each calibrating and quantizing.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

/** What a restart does with a stored instance: a fresh quantizer of the config, the parameters imported. */
function reload(q: Quantizer): Quantizer {
  const copy = new Quantizer(q.getConfig());
  copy.importParameters(q.exportParameters());
  return copy;
}

const X = { data: Float32Array.from([-2.5, 0.1, 1.7, 9.25, -0.3, 4]), shape: [2, 3] };

describe('updateConfig drops what no longer applies', () => {
  test('last-used int8 parameters go when the instance becomes UINT8, 4-bit, INT16 or FLOAT16', () => {
    for (const patch of [{ quantizationType: 'UINT8' }, { numBits: 4 }, { quantizationType: 'INT16' }, { quantizationType: 'FLOAT16' }]) {
      const q = new Quantizer();
      q.quantize(X);
      q.quantizeDequantize(X, { layerName: 'fc1' });
      expect(q.getParameters().last).toHaveProperty('');
      q.updateConfig(patch);
      expect(q.getParameters().last).toEqual({});
      expect(() => reload(q)).not.toThrow();
    }
  });

  test('last-used parameters that still fit stay (codes made before the change still dequantize)', () => {
    const q = new Quantizer({ customQuantizationConfig: { head: { quantizationType: 'INT16' } } });
    q.quantize(X);
    q.quantize(X, { layerName: 'head' });
    q.updateConfig({ quantizationType: 'UINT8' });
    // The instance's int8 parameters no longer fit; the head layer still quantizes to int16.
    expect(Object.keys(q.getParameters().last)).toEqual(['head']);
    q.updateConfig({ symmetric: true });
    expect(Object.keys(q.getParameters().last)).toEqual(['head']);
  });

  test('property: after any sequence of quantize, calibrate and config changes the parameters reload into the config', () => {
    const layer = fc.constantFrom(undefined, 'fc1', 'head.weight', 'out.bias');
    const patch = fc.record(
      {
        quantizationType: fc.constantFrom(...QUANTIZATION_TYPES),
        quantizationMode: fc.constantFrom(...QUANTIZATION_MODES),
        numBits: fc.integer({ min: 2, max: 16 }),
        symmetric: fc.boolean(),
        perChannel: fc.boolean(),
        enableMixedPrecision: fc.boolean(),
        mixedPrecisionLayers: fc.constantFrom([], ['fc1']),
        quantizeBias: fc.boolean(),
        customQuantizationConfig: fc.constantFrom({}, { 'head.weight': { quantizationType: 'UINT4' } }, { fc1: { quantizationType: 'INT16', numBits: 12 } }),
      },
      { requiredKeys: [] },
    );
    const step = fc.oneof(
      fc.record({ op: fc.constant('quantize' as const), layer }),
      fc.record({ op: fc.constant('calibrate' as const), layer }),
      fc.record({ op: fc.constant('config' as const), patch }),
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
        const q = new Quantizer();
        for (const s of steps) {
          try {
            if (s.op === 'quantize') q.quantize(X, { layerName: s.layer });
            else if (s.op === 'calibrate') q.calibrate([X], { layerName: s.layer });
            else q.updateConfig(s.patch);
          } catch {
            // A refused call (invalid config, not calibrated, pass-through layer) changes nothing.
          }
          expect(() => reload(q)).not.toThrow();
        }
      }),
      { seed: 20261207, numRuns: 300 },
    );
  });
});
