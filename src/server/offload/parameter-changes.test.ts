import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Quantizer } from '../../engine/quantizer.js';
import { parameterChanges } from './parameter-changes.js';

const CONFIG = { quantizationMode: 'CALIBRATED', enableRequantization: true, requantizationThreshold: 0.001, perChannel: true, channelDim: 1 } as const;
const LAYERS = ['', 'a', 'b', 'c'];

/** One call on a layer: calibrate, quantize (which may requantize), dequantize, or computeScaleAndZeroPoint. */
const call = fc.record({
  kind: fc.constantFrom('calibrate', 'quantize', 'dequantize', 'compute'),
  layer: fc.constantFrom(...LAYERS),
  spread: fc.double({ min: 0.5, max: 8, noNaN: true }),
});

function run(q: Quantizer, c: { kind: string; layer: string; spread: number }, i: number): void {
  const data = { data: Float32Array.from({ length: 12 }, (_, k) => Math.sin(k + i) * c.spread), shape: [3, 4] };
  const layerName = c.layer === '' ? null : c.layer;
  try {
    if (c.kind === 'calibrate') q.calibrate([data], { layerName });
    else if (c.kind === 'quantize') q.quantize(data, { layerName });
    else if (c.kind === 'dequantize') q.dequantize({ data: Int8Array.of(1, -2, 3, 4), shape: [1, 4] }, { layerName });
    else q.computeScaleAndZeroPoint(data, null, { layerName });
  } catch {
    // A layer not calibrated yet refuses: that call changes nothing, which is part of what is checked.
  }
}

describe('parameterChanges', () => {
  test('merged into the original, the changes a copy made leave it exactly as the copy (seeded)', () => {
    fc.assert(
      fc.property(fc.array(call, { maxLength: 8 }), fc.array(call, { minLength: 1, maxLength: 4 }), (setup, calls) => {
        const original = new Quantizer(CONFIG);
        setup.forEach((c, i) => run(original, c, i));
        const copy = new Quantizer(original.getConfig());
        copy.importParameters(original.exportParameters());
        const before = copy.parameterState();
        calls.forEach((c, i) => run(copy, c, 100 + i));
        const changes = parameterChanges(before, copy.parameterState());
        expect(changes).not.toBe('removed');
        if (changes !== null && changes !== 'removed') original.mergeParameters(changes);
        expect(original.exportParameters()).toEqual(copy.exportParameters());
        // Only what changed travels: a layer none of the calls touched is not in it.
        if (changes !== null && changes !== 'removed') {
          const touched = new Set(calls.map((c) => c.layer));
          for (const name of Object.keys(changes.layers)) expect(touched.has(name)).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  test('nothing changed is null; an entry gone (a config change) is "removed"', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
    q.calibrate([{ data: Float32Array.of(-1, 2, 3), shape: [3] }]);
    const before = q.parameterState();
    expect(parameterChanges(before, q.parameterState())).toBeNull();
    q.updateConfig({ quantizationType: 'NONE' });
    expect(parameterChanges(before, q.parameterState())).toBe('removed');
  });
});
