import { afterEach, describe, expect, it } from 'vitest';
import { setKernels } from '../kernels/index.js';
import { referenceKernels } from '../kernels/reference.js';
import { wasmKernels, wasmZeroCopy } from '../kernels/wasm.js';
import { createWasmArena } from '../kernels/wasm-arena.js';
import { isWasmArray } from '../kernels/wasm-memory.js';
import type { BlockLayout } from '../layout.js';
import { EntropyObserver } from './entropy-observer.js';
import { setHistogramKernel } from './histogram/get-histogram-kernel.js';
import { referenceHistogramKernel } from './histogram/histogram-kernel.js';
import { HistogramObserver } from './histogram-observer.js';
import { wasmHistogramKernel } from './histogram/histogram-wasm.js';
import { MinMaxObserver } from './min-max-observer.js';
import type { HistogramSnapshot } from './channel-histograms.js';
import { PercentileObserver } from './percentile-observer.js';

afterEach(() => {
  setKernels(wasmKernels);
  setHistogramKernel(wasmHistogramKernel);
});

/** Heavy-tailed values with repeats, so bins fill unevenly and runs of equal values occur. */
function data(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => {
    const v = Math.sin(i * 0.731 + seed) * Math.cos(i * 0.0137 * seed);
    return Math.fround(i % 97 === 0 ? 25 * v : i % 5 === 0 ? 0 : v);
  });
}

class SeenPercentile extends PercentileObserver {
  seen: Float32Array[] = [];
  protected override fold(x: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array): void {
    this.seen.push(x);
    super.fold(x, layout, min, max);
  }
}

class SeenMinMax extends MinMaxObserver {
  seen: Float32Array[] = [];
  protected override fold(x: Float32Array, layout: BlockLayout, min: Float32Array, max: Float32Array): void {
    this.seen.push(x);
    super.fold(x, layout, min, max);
  }
}

type HistogramKind = PercentileObserver | HistogramObserver | EntropyObserver;
const KINDS: [string, (axis?: number) => HistogramKind][] = [
  ['percentile', (axis) => new PercentileObserver({ axis, minPercentile: 1, maxPercentile: 99, bins: 256 })],
  ['histogram', (axis) => new HistogramObserver({ axis, bins: 256 })],
  ['entropy', (axis) => new EntropyObserver({ axis, bins: 256 })],
];

function run(make: () => HistogramKind, batches: Float32Array[], shape: number[]): { hist: HistogramSnapshot[]; min: number[]; max: number[] } {
  const o = make();
  for (const b of batches) o.update(b, shape);
  const r = o.range({ dtype: 'int8' });
  return { hist: o.histograms(), min: Array.from(r.min), max: Array.from(r.max) };
}

describe('BaseObserver.update', () => {
  it('hands a histogram observer a copy of a heap batch in WebAssembly memory, and leaves the batch alone', () => {
    const x = data(5000, 1);
    const copy = x.slice();
    const o = new SeenPercentile();
    o.update(x, [50, 100]);
    expect(o.seen).toHaveLength(1);
    expect(o.seen[0]).not.toBe(x);
    expect(isWasmArray(o.seen[0])).toBe(wasmZeroCopy());
    expect(Array.from(x)).toEqual(Array.from(copy));
  });

  it('hands over a batch that already lives in WebAssembly memory as it is (no copy)', () => {
    const arena = createWasmArena();
    try {
      const x = arena.float32(4000);
      x.set(data(4000, 2));
      const o = new SeenPercentile();
      o.update(x, [4000]);
      expect(o.seen[0]).toBe(x);
    } finally {
      arena.free();
    }
  });

  it('does not copy for observers that need one pass (min/max) or with the reference kernels', () => {
    const x = data(3000, 3);
    const m = new SeenMinMax();
    m.update(x, [3000]);
    expect(m.seen[0]).toBe(x);
    setKernels(referenceKernels);
    const p = new SeenPercentile();
    p.update(x, [3000]);
    expect(p.seen[0]).toBe(x);
  });

  it.each(KINDS)('gives the %s observer the histograms and range of the reference kernels, per tensor and per channel', (_, make) => {
    const heap = [data(6000, 4), data(6000, 5).map((v) => 3 * v)];
    const arena = createWasmArena();
    try {
      const inWasm = heap.map((b) => {
        const a = arena.float32(b.length);
        a.set(b);
        return a;
      });
      for (const axis of [undefined, 0, -1]) {
        const shape = [100, 60];
        const fast = run(() => make(axis), heap, shape);
        expect(run(() => make(axis), inWasm, shape)).toEqual(fast);
        setKernels(referenceKernels);
        setHistogramKernel(referenceHistogramKernel);
        expect(run(() => make(axis), heap, shape)).toEqual(fast);
        setKernels(wasmKernels);
        setHistogramKernel(wasmHistogramKernel);
      }
    } finally {
      arena.free();
    }
  });

  it('rejects a NaN in a heap batch naming its index, and keeps the state it had', () => {
    const o = new PercentileObserver();
    o.update(data(1000, 6), [1000]);
    const before = o.histograms();
    const bad = data(1000, 7);
    bad[613] = NaN;
    expect(() => o.update(bad, [1000])).toThrow(/NaN at index 613/);
    expect(o.histograms()).toEqual(before);
    expect(o.count).toBe(1000);
  });
});
