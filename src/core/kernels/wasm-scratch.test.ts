import { describe, expect, it, vi } from 'vitest';
import { isQuantError } from '../errors.js';
import { blockLayout } from '../layout.js';
import { quantize } from '../quantize.js';
import { referenceKernels } from './reference.js';
import { scratchCodes, stagedFloat32, stageWithMinMax } from './wasm-scratch.js';
import { isWasmArray } from './wasm-memory.js';

// Beyond vitest's 5 s default on a 2-core machine: this file quantizes arrays of more than 1 Mi elements against the scalar reference kernel.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const f32 = Math.fround;

function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function data(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => f32(Math.sin(i * 0.37) * (1 + (i % 13)) + (i % 7 === 0 ? 0.5 : 0)));
}

describe('the one-copy range + quantize path', () => {
  it('stageWithMinMax copies x into WASM memory and finds the same range as the reference, over many chunks', () => {
    const x = data(100_003);
    x[70_000] = -0;
    const layout = blockLayout([100_003], { kind: 'per-block', axis: 0, blockSize: 4096 });
    const [min, max, wantMin, wantMax] = [0, 1, 2, 3].map((k) => new Float32Array(layout.paramCount).fill(k % 2 ? -Infinity : Infinity));
    const staged = stageWithMinMax(x, layout, min, max, false);
    referenceKernels.minMax(x, layout, wantMin, wantMax);
    expect(isWasmArray(staged)).toBe(true);
    expect(Array.from(staged)).toEqual(Array.from(x));
    expect(Array.from(min)).toEqual(Array.from(wantMin));
    expect(Array.from(max)).toEqual(Array.from(wantMax));
    expect(stagedFloat32(staged)).toBe(staged);
    expect(isWasmArray(scratchCodes('int16', 10)!)).toBe(true);
  });

  it('quantize gives the reference kernels\u2019 codes and parameters for every granularity', () => {
    const x = data(3 * 50_000);
    for (const granularity of [undefined, { kind: 'per-axis', axis: 1 }, { kind: 'per-block', axis: 1, blockSize: 32 }] as const) {
      for (const dtype of ['uint8', 'int4', 'int16'] as const) {
        const got = quantize(x, [3, 50_000], { dtype, granularity });
        const want = quantize(x, [3, 50_000], { dtype, granularity, kernels: referenceKernels });
        expect(isWasmArray(got.codes)).toBe(false);
        expect(got.codes.constructor).toBe(want.codes.constructor);
        expect(Array.from(got.params.scale)).toEqual(Array.from(want.params.scale));
        expect(Array.from(got.codes).every((v, i) => v === want.codes[i])).toBe(true);
      }
    }
    // Returned codes are fresh arrays, not the reused scratch: a second call leaves the first alone.
    const a = quantize(x, [x.length], { dtype: 'uint8' }).codes;
    const before = a.slice();
    quantize(x.map((v) => -v), [x.length], { dtype: 'uint8' });
    expect(Array.from(a).every((v, i) => v === before[i])).toBe(true);
  });

  it('quantize over more codes than one staged piece (1 Mi) equals the reference, into a new array or the caller\u2019s', () => {
    const shape = [300, 3701];
    const x = data(300 * 3701);
    for (const granularity of [undefined, { kind: 'per-axis', axis: 1 }, { kind: 'per-block', axis: 0, blockSize: 7 }] as const) {
      for (const dtype of ['int8', 'uint16'] as const) {
        const want = quantize(x, shape, { dtype, granularity, kernels: referenceKernels });
        const got = quantize(x, shape, { dtype, granularity });
        expect(Array.from(got.params.zeroPoint)).toEqual(Array.from(want.params.zeroPoint));
        expect(firstDiff(got.codes, want.codes)).toBe(-1);
        const out = want.codes.slice().fill(3);
        expect(quantize(x, shape, { dtype, granularity, out }).codes).toBe(out);
        expect(firstDiff(out, want.codes)).toBe(-1);
      }
    }
  });

  it('names the first NaN by its index in the caller\u2019s array', () => {
    const x = data(80_000);
    x[65_537] = NaN;
    x[70_000] = NaN;
    let index: unknown;
    try {
      quantize(x, [x.length], { dtype: 'int8' });
    } catch (e) {
      index = isQuantError(e) && e.code === 'NAN_INPUT' ? e.details?.index : undefined;
    }
    expect(index).toBe(65_537);
  });
});
