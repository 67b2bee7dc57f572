import { describe, expect, test } from 'vitest';
import { Quantizer } from './quantizer.js';
import { expectQuantError } from '../../test/helpers/quant-error.js';

const x = { data: Float32Array.from({ length: 12 }, (_, i) => Math.sin(i) * 3), shape: [3, 4] };
const wide = { data: x.data.map((v) => v * 5), shape: [3, 4] };

describe('revision', () => {
  test('changes with every change of config or parameters, and only then', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', enableRequantization: true, requantizationThreshold: 0.001 });
    const seen = [q.revision];
    const step = (changes: boolean, call: () => unknown) => {
      call();
      expect(q.revision !== seen[seen.length - 1], String(call)).toBe(changes);
      seen.push(q.revision);
    };
    step(true, () => q.calibrate([x]));
    step(true, () => q.quantize(x)); // first last-used entry
    step(false, () => q.quantize(x)); // the calibrated parameters again: no change
    step(false, () => q.dequantize({ data: Int8Array.of(1, 2), shape: [2] }));
    step(false, () => q.computeScaleAndZeroPoint(x));
    step(false, () => q.resetStats());
    step(true, () => q.quantize(wide)); // requantization widens the range
    step(true, () => q.updateConfig({ numBits: 6 }));
    step(true, () => q.importParameters(q.exportParameters()));
    step(true, () => q.mergeParameters(q.exportParameters()));
    expect(new Set(seen).size).toBe(7);
  });

  test('dynamic quantizes make new last-used parameters each time', () => {
    const q = new Quantizer();
    const before = q.revision;
    q.quantize(x);
    const once = q.revision;
    q.quantize(x);
    expect(before).not.toBe(once);
    expect(q.revision).not.toBe(once);
  });

  test('no two quantizers ever share a revision, so a swapped-in quantizer never passes for a cached one', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const q = new Quantizer();
      expect(seen.has(q.revision)).toBe(false);
      seen.add(q.revision);
      q.updateConfig({ numBits: 6 });
      expect(seen.has(q.revision)).toBe(false);
      seen.add(q.revision);
    }
  });
});

describe('parameterState and mergeParameters', () => {
  test('a merge of what changed on a copy leaves the original exactly as the copy', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', enableRequantization: true, requantizationThreshold: 0.001 });
    q.calibrate([x], { layerName: 'a' });
    q.calibrate([x], { layerName: 'b' });
    q.quantize(x, { layerName: 'a' });
    const copy = new Quantizer(q.getConfig());
    copy.importParameters(q.exportParameters());
    const before = copy.parameterState();
    copy.quantize(wide, { layerName: 'b' });
    const after = copy.parameterState();
    // Only layer b's entries are new objects; a's are the very ones of before.
    expect(after.calibrated.get('a')).toBe(before.calibrated.get('a'));
    expect(after.last.get('a')).toBe(before.last.get('a'));
    expect(after.calibrated.get('b')).not.toBe(before.calibrated.get('b'));
    const file = copy.exportParameters();
    q.mergeParameters({ ...file, instance: {}, layers: { b: file.layers.b } });
    expect(q.exportParameters()).toEqual(copy.exportParameters());
  });

  test('the state is a snapshot: later calls do not change it', () => {
    const q = new Quantizer();
    q.quantize(x);
    const s = q.parameterState();
    const held = s.last.get('');
    q.quantize(wide);
    expect(s.last.get('')).toBe(held);
    expect(q.parameterState().last.get('')).not.toBe(held);
  });

  test('entries that do not fit the config are INVALID_PARAMS and nothing changes', () => {
    const q = new Quantizer();
    q.quantize(x);
    const u8 = new Quantizer({ quantizationType: 'UINT8' });
    u8.quantize(x, { layerName: 'l' });
    const before = q.exportParameters();
    const revision = q.revision;
    expectQuantError(() => q.mergeParameters(u8.exportParameters()), 'INVALID_PARAMS');
    expect(q.exportParameters()).toEqual(before);
    expect(q.revision).toBe(revision);
  });
});
