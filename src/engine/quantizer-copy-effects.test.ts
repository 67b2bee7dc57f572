import { describe, expect, test } from 'vitest';
import { createRng } from '../core/random.js';
import type { CopyEffects } from './quantizer.js';
import { Quantizer } from './quantizer.js';
import { expectQuantError } from '../../test/helpers/quant-error.js';


function randomData(n: number, seed: number, spread = 1): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => (rng() * 2 - 1) * spread);
}

/** Which effects a call has: quantize changes parameters, dequantize only counts, quantizeDequantize both. */
type Kind = 'quantize' | 'dequantize' | 'both';
type Call = (q: Quantizer) => unknown;

/** What the offload worker does: rebuild from config + exported parameters, run one call, report its effects. */
function onCopy(q: Quantizer, call: Call, kind: Kind): CopyEffects {
  const copy = new Quantizer(q.getConfig());
  copy.importParameters(q.exportParameters());
  call(copy);
  return { parameters: kind === 'dequantize' ? undefined : copy.exportParameters(), stats: copy.getStats() };
}

/** Everything observable but the clock. */
function state(q: Quantizer) {
  const { processingTimeMs, ...stats } = q.getStats();
  expect(processingTimeMs).toBeGreaterThanOrEqual(0);
  return { stats, parameters: q.exportParameters() };
}

const x = { data: randomData(48, 1, 2), shape: [6, 8] };
const outliers = { data: randomData(48, 2, 9), shape: [6, 8] };
const codes = { data: Int8Array.from({ length: 48 }, (_, i) => (i * 37) % 101 - 50), shape: [6, 8] };

describe('applyCopyEffects', () => {
  test.each([
    ['dynamic per-tensor', {}],
    ['per-channel', { quantizationMode: 'PER_CHANNEL', channelDim: 1 }],
    ['calibrated with requantization', { quantizationMode: 'CALIBRATED', enableRequantization: true, requantizationThreshold: 0.001, perChannel: true }],
    ['float16 with NaN let through', { quantizationType: 'FLOAT16', errorOnNan: false }],
  ])('leaves %s state as running the calls here', (_, config) => {
    const here = new Quantizer(config);
    const there = new Quantizer(config);
    const calibration = [randomData(48, 3), randomData(48, 4)].map((data) => ({ data, shape: [6, 8] }));
    if ((config as { quantizationMode?: string }).quantizationMode === 'CALIBRATED') {
      here.calibrate(calibration);
      there.calibrate(calibration);
    }
    const withNaN = { data: x.data.map((v, i) => (i === 5 ? NaN : v)), shape: x.shape };
    const dequantizeCodes = (config as { quantizationType?: string }).quantizationType === 'FLOAT16' ? { data: Uint16Array.from(codes.data, (c) => c + 50), shape: codes.shape } : codes;
    const calls: [Call, Kind][] = [
      [(q) => q.quantize(x), 'quantize'],
      [(q) => q.quantize(outliers), 'quantize'],
      [(q) => q.dequantize(dequantizeCodes), 'dequantize'],
      [(q) => q.dequantize(dequantizeCodes), 'dequantize'],
      [(q) => q.quantizeDequantize(outliers), 'both'],
    ];
    if ((config as { errorOnNan?: boolean }).errorOnNan === false) calls.push([(q) => q.quantize(withNaN), 'quantize']);
    for (const [call, kind] of calls) {
      call(here);
      there.applyCopyEffects(onCopy(there, call, kind));
      expect(state(there)).toEqual(state(here));
    }
    const s = here.getStats();
    expect(s.quantizeCalls).toBe(calls.length - 2);
    // The calls do exercise what must carry over.
    const c = config as { quantizationType?: string; quantizationMode?: string };
    if (c.quantizationType === 'FLOAT16') expect(s.nonFiniteValues).toBe(1);
    expect(s.dequantizeCalls).toBe(3);
    if (c.quantizationMode === 'CALIBRATED') expect(s.requantizations).toBeGreaterThan(0);
  });

  test('a dequantize on a copy keeps the last scale and the parameters, and adds its count', () => {
    const q = new Quantizer();
    q.quantize(x);
    const before = q.getStats();
    const parameters = q.exportParameters();
    q.applyCopyEffects(onCopy(q, (c) => c.dequantize(codes), 'dequantize'));
    const after = q.getStats();
    expect(after.lastScale).toBe(before.lastScale);
    expect(after.lastZeroPoint).toBe(before.lastZeroPoint);
    expect(after.dequantizeCalls).toBe(1);
    expect(q.exportParameters()).toEqual(parameters);
  });

  test('invalid parameters are INVALID_PARAMS and change nothing', () => {
    const q = new Quantizer();
    q.quantize(x);
    const before = state(q);
    const effects = onCopy(q, (c) => c.quantize(outliers), 'quantize');
    expectQuantError(() => q.applyCopyEffects({ ...effects, parameters: { format: 'other' } }), 'INVALID_PARAMS');
    expect(state(q)).toEqual(before);
  });
});
