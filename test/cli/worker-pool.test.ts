import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CodeArray, CodeStorage } from '../../src/core/dtypes.js';
import type { Granularity } from '../../src/core/layout.js';
import { blockLayout, paramIndex } from '../../src/core/layout.js';
import type { KernelPool } from '../../src/node/workers/worker-pool.js';
import { assertBuilt, besidesSummary, readNpy, REPO, runCli, sampleData, tempDir, writeNpy } from './helpers.js';

// Beyond vitest's 5 s default on a 2-core machine: this file starts worker threads over 16 Mi-element arrays.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

// Workers load compiled JavaScript, so the pool under test is the built one (the tests' global setup builds it when stale),
// and so are the kernels it is compared with: one copy of the shared-memory state in this process.
type PoolModule = typeof import('../../src/node/workers/worker-pool.js');
type KernelsModule = typeof import('../../src/core/kernels/index.js');
let mod: PoolModule;
let kmod: KernelsModule;
let pool: KernelPool;
const t = tempDir();

beforeAll(async () => {
  assertBuilt();
  mod = (await import(pathToFileURL(join(REPO, 'dist/node/workers/worker-pool.js')).href)) as PoolModule;
  kmod = (await import(pathToFileURL(join(REPO, 'dist/core/kernels/index.js')).href)) as KernelsModule;
  pool = mod.KernelPool.create(2);
});
afterAll(async () => {
  await pool.close();
  t.cleanup();
});

const shape = [3, 300, 97];
const n = 3 * 300 * 97;
const GRANULARITIES: Granularity[] = [
  { kind: 'per-tensor' },
  { kind: 'per-axis', axis: 0 },
  { kind: 'per-axis', axis: 1 },
  { kind: 'per-axis', axis: 2 },
  { kind: 'per-block', axis: 0, blockSize: 2 },
  { kind: 'per-block', axis: 1, blockSize: 32 },
  { kind: 'per-block', axis: 1, blockSize: 7 },
  { kind: 'per-block', axis: 2, blockSize: 16 },
];
const STORAGES: [CodeStorage, number, number][] = [
  ['int8', -128, 127],
  ['uint8', 0, 255],
  ['int16', -300, 32767],
  ['uint16', 0, 1000],
];
// Chunk starts and lengths: whole tensor; starting mid-row and mid-block (1000 = row 10, element 30);
// odd lengths so the workers' slices end mid-row as well.
const CHUNKS: [number, number][] = [
  [0, n],
  [1000, n - 1000],
  [17_131, 70_001],
];

/** Index of the first element whose bits differ (-1: identical); toEqual is too slow on 100k elements. */
function firstDiff(a: ArrayBufferView & { length: number }, b: ArrayBufferView & { length: number }): number {
  if (a.length !== b.length || a.constructor !== b.constructor) return -2;
  const w = a.byteLength / a.length;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return Math.floor(i / w);
  return -1;
}

function withValues(x: Float32Array): Float32Array {
  // Ties at .5 of a step, signed zeros and a huge value next to tiny ones.
  for (let i = 5; i < x.length; i += 611) x[i] = (i % 3) + 0.5;
  x[77] = 3e6;
  x[78] = 1e-30;
  return x;
}

describe('KernelPool over one shared WebAssembly memory: bit-identical to one thread', () => {
  for (const g of GRANULARITIES) {
    it(JSON.stringify(g), async () => {
      const k = kmod.getKernels();
      const layout = blockLayout(shape, g);
      const all = pool.allocFloat32(n);
      all.set(withValues(sampleData(n, 11)));
      expect(kmod.isWasmArray(all)).toBe(true);
      for (const [start, len] of CHUNKS) {
        expect(len).toBeGreaterThanOrEqual(mod.MIN_PARALLEL_ELEMENTS);
        const xs = all.subarray(0, len);
        const calls = pool.parallelCalls;
        for (const finiteOnly of [false, true]) {
          const min1 = new Float32Array(layout.paramCount).fill(Infinity);
          const max1 = new Float32Array(layout.paramCount).fill(-Infinity);
          k.minMax(xs, layout, min1, max1, start, finiteOnly);
          const min2 = new Float32Array(layout.paramCount).fill(Infinity);
          const max2 = new Float32Array(layout.paramCount).fill(-Infinity);
          await pool.minMax(xs, layout, min2, max2, start, finiteOnly);
          expect(firstDiff(min2, min1)).toBe(-1);
          expect(firstDiff(max2, max1)).toBe(-1);
        }
        // Scales from a run of values, zero points away from 0 so a wrong parameter index shows.
        const scale = Float32Array.from({ length: layout.paramCount }, (_, p) => 0.01 + ((p * 37) % 101) / 997);
        const zp = Int32Array.from(scale, (_, p) => (p % 7) - 3);
        for (const [storage, qmin, qmax] of STORAGES) {
          const Ctor = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array }[storage];
          const q1 = new Ctor(len) as CodeArray;
          k.quantize(xs, layout, scale, zp, qmin, qmax, q1, start);
          const q2 = pool.allocCodes(storage, len);
          await pool.quantize(xs, layout, scale, zp, qmin, qmax, q2, start);
          expect(firstDiff(q2, q1)).toBe(-1);

          const d1 = new Float32Array(len);
          k.dequantize(q1, layout, scale, zp, d1, start);
          const d2 = pool.allocFloat32(len);
          await pool.dequantize(q2, layout, scale, zp, d2, start);
          expect(firstDiff(d2, d1)).toBe(-1);
        }
        const f1 = new Float32Array(len);
        k.fakeQuantize(xs, layout, scale, zp, -8, 7, f1, start);
        const f2 = pool.allocFloat32(len);
        await pool.fakeQuantize(xs, layout, scale, zp, -8, 7, f2, start);
        expect(firstDiff(f2, f1)).toBe(-1);
        // Every call above was split across the workers: 2 min/max, 4 x 2 (de)quantize, 1 fake.
        expect(pool.parallelCalls - calls).toBe(11);
      }
    });
  }

  it('parameters that live in the shared memory are read in place, with the same codes', async () => {
    const k = kmod.getKernels();
    const layout = blockLayout(shape, GRANULARITIES[6]);
    const x = pool.allocFloat32(n);
    x.set(sampleData(n, 4));
    const scale = pool.allocFloat32(layout.paramCount);
    scale.set(Float32Array.from({ length: layout.paramCount }, (_, p) => 0.02 + (p % 13) / 50));
    const zp = new Int32Array(layout.paramCount).fill(5);
    const arena = kmod.createWasmArena();
    const zpWasm = arena.int32(layout.paramCount);
    zpWasm.set(zp);
    const q1 = new Uint8Array(n - 333);
    k.quantize(x.subarray(0, n - 333), layout, scale, zp, 0, 255, q1, 333);
    const q2 = pool.allocCodes('uint8', n - 333);
    await pool.quantize(x.subarray(0, n - 333), layout, scale, zpWasm, 0, 255, q2, 333);
    arena.free();
    expect(firstDiff(q2, q1)).toBe(-1);
  });

  it('arrays outside the shared memory run on the calling thread, with the same results', async () => {
    const k = kmod.getKernels();
    const layout = blockLayout(shape, GRANULARITIES[5]);
    const x = withValues(sampleData(n, 5));
    const scale = new Float32Array(layout.paramCount).fill(0.05);
    const zp = new Int32Array(layout.paramCount).fill(-2);
    const q1 = new Int8Array(n);
    k.quantize(x, layout, scale, zp, -128, 127, q1, 0);
    const q2 = new Int8Array(n);
    const calls = pool.parallelCalls;
    await pool.quantize(x, layout, scale, zp, -128, 127, q2, 0);
    expect(pool.parallelCalls).toBe(calls);
    expect(firstDiff(q2, q1)).toBe(-1);
  });

  it('min/max fold chunk after chunk into the running extremes, as one thread does', async () => {
    for (const g of [GRANULARITIES[3], GRANULARITIES[6]]) {
      const k = kmod.getKernels();
      const layout = blockLayout(shape, g);
      const x = pool.allocFloat32(n);
      x.set(withValues(sampleData(n, 21)));
      const min1 = new Float32Array(layout.paramCount).fill(Infinity);
      const max1 = new Float32Array(layout.paramCount).fill(-Infinity);
      const min2 = min1.slice();
      const max2 = max1.slice();
      // The second chunk is split across the workers, starting from the first chunk's extremes.
      const calls = pool.parallelCalls;
      for (const [from, to] of [[0, 10_001], [10_001, n]]) {
        k.minMax(x.subarray(from, to), layout, min1, max1, from, false);
        await pool.minMax(x.subarray(from, to), layout, min2, max2, from, false);
      }
      expect(pool.parallelCalls - calls).toBe(1);
      expect(firstDiff(min2, min1)).toBe(-1);
      expect(firstDiff(max2, max1)).toBe(-1);
    }
  });

  it('NaN propagates through the merged min/max as through one thread', async () => {
    const layout = blockLayout(shape, GRANULARITIES[5]);
    const x = pool.allocFloat32(n);
    x.set(sampleData(n, 12));
    x[n - 5] = NaN;
    const min = new Float32Array(layout.paramCount).fill(Infinity);
    const max = new Float32Array(layout.paramCount).fill(-Infinity);
    await pool.minMax(x, layout, min, max, 0, false);
    const p = paramIndex(layout, n - 5);
    expect(Number.isNaN(min[p])).toBe(true);
    expect(Number.isNaN(max[p])).toBe(true);
    expect(Array.from(min).filter((v) => Number.isNaN(v))).toHaveLength(1);
  });

  it('a kernel error in a worker rejects the call; the pool keeps working', async () => {
    const layout = blockLayout(shape, GRANULARITIES[0]);
    const x = pool.allocFloat32(n);
    x.set(sampleData(n, 6));
    const out = pool.allocCodes('uint8', n);
    // The chunk claims to start past the tensor's end: every worker's kernel rejects its slice.
    await expect(pool.quantize(x, layout, new Float32Array([0.1]), new Int32Array([0]), 0, 255, out, 10)).rejects.toThrow(/kernel worker failed/);
    await pool.quantize(x, layout, new Float32Array([0.1]), new Int32Array([0]), 0, 255, out, 0);
    const want = new Uint8Array(n);
    kmod.getKernels().quantize(x, layout, new Float32Array([0.1]), new Int32Array([0]), 0, 255, want, 0);
    expect(firstDiff(out, want)).toBe(-1);
  });

  it('rebaseSlice: the rebased layout gives every element of the slice its parameter, shifted by lo', () => {
    for (const [s, g] of [
      [[4, 10, 6], { kind: 'per-block', axis: 1, blockSize: 3 }],
      [[4, 10, 6], { kind: 'per-block', axis: 2, blockSize: 4 }],
      [[5, 9], { kind: 'per-block', axis: 0, blockSize: 2 }],
      [[4, 10, 6], { kind: 'per-axis', axis: 1 }],
      [[4, 10, 6], { kind: 'per-tensor' }],
    ] as [number[], Granularity][]) {
      const layout = blockLayout(s, g);
      for (const [from, to] of [[0, 240], [7, 61], [60, 61], [59, 180], [121, 239]]) {
        if (to > layout.size) continue;
        const r = mod.rebaseSlice(layout, from, to - from);
        for (let e = from; e < to; e++) {
          const p = paramIndex(layout, e);
          expect(p).toBeGreaterThanOrEqual(r.lo);
          expect(p).toBeLessThan(r.hi);
          expect(paramIndex(r.layout, e - from + r.start)).toBe(p - r.lo);
        }
        expect(r.layout.paramCount).toBe(layout.paramCount - r.lo);
        expect(r.layout.size - r.start).toBe(layout.size - from);
      }
    }
  });

  it('close frees the pool memory; later calls are refused', async () => {
    const p = mod.KernelPool.create(2);
    const x = p.allocFloat32(1024);
    expect(kmod.isWasmArray(x)).toBe(true);
    await p.close();
    await p.close();
    await expect(p.quantize(x, blockLayout([1024], GRANULARITIES[0]), new Float32Array([1]), new Int32Array([0]), 0, 255, new Uint8Array(1024), 0)).rejects.toThrow('closed');
  });
});

describe('quantkit --workers', () => {
  it('2 workers write the same bytes as 1', () => {
    const input = writeNpy(t.path('x.npy'), { dtype: 'float32', shape: [300, 1000], data: sampleData(300_000, 13) });
    for (const args of [['--dtype', 'uint8'], ['--dtype', 'int4', '--axis', '0', '--block-size', '7']]) {
      const a = t.path('one.npy');
      const b = t.path('two.npy');
      expect(runCli(['quantize', input, '-o', a, ...args, '--workers', '1']).code).toBe(0);
      const r = runCli(['quantize', input, '-o', b, ...args, '--workers', '2']);
      expect(besidesSummary(r.stderr)).toBe('');
      expect(firstDiff(readNpy(b).data, readNpy(a).data)).toBe(-1);
    }
  });
});
