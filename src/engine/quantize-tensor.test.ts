import { afterEach, describe, expect, it, vi } from 'vitest';
import { getKernels, setKernels, wasmAvailable, wasmKernels } from '../core/kernels/index.js';
import { quantize } from '../core/quantize.js';
import { Quantizer } from './quantizer.js';

const active = getKernels();
afterEach(() => {
  setKernels(active);
  vi.restoreAllMocks();
});

const x = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.37) * 6);

describe.runIf(wasmAvailable())('the Quantizer runs the core pipeline (WebAssembly kernels)', () => {
  it('a dynamic quantize takes its range from the one staging copy: no separate min/max pass', () => {
    setKernels(wasmKernels);
    const minMax = vi.spyOn(wasmKernels, 'minMax');
    for (const config of [{}, { quantizationMode: 'PER_CHANNEL', channelDim: 1 }, { quantizationMode: 'DYNAMIC_PER_BATCH' }]) {
      const r = new Quantizer(config).quantize({ data: x, shape: [64, 64] });
      const granularity = r.params!.granularity;
      const want = quantize(x, [64, 64], { dtype: 'int8', granularity, symmetric: false });
      expect(Array.from(r.codes)).toEqual(Array.from(want.codes));
      expect(Array.from(r.params!.scale)).toEqual(Array.from(want.params.scale));
    }
    expect(minMax).not.toHaveBeenCalled();
  });

  it('a calibrated quantize scans for NaN in the same staging copy', () => {
    setKernels(wasmKernels);
    const q = new Quantizer({ quantizationMode: 'CALIBRATED' });
    q.calibrate([{ data: x, shape: [64, 64] }]);
    const minMax = vi.spyOn(wasmKernels, 'minMax');
    const r = q.quantize({ data: x.map((v) => v * 2), shape: [64, 64] });
    expect(minMax).not.toHaveBeenCalled();
    expect(r.clipped).toBeGreaterThan(0);
    expect(r.clipped).toBe(q.getStats().clippedValues);
    expect(() => q.quantize({ data: x.map((v, i) => (i === 7 ? NaN : v)), shape: [64, 64] })).toThrow(/NaN at flat index 7/);
  });
});
