import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Granularity } from '../../src/core/layout.js';
import { blockLayout } from '../../src/core/layout.js';
import { getKernels } from '../../src/core/kernels/index.js';
import type { KernelPool } from '../../src/node/worker-pool.js';
import { assertBuilt, readNpy, REPO, runCli, sampleData, tempDir, writeNpy } from './helpers.js';

// Workers load compiled JavaScript, so the pool under test is the built one (npm test builds first).
type PoolModule = typeof import('../../src/node/worker-pool.js');
let mod: PoolModule;
let pool: KernelPool;
const t = tempDir();

beforeAll(async () => {
  assertBuilt();
  mod = (await import(pathToFileURL(join(REPO, 'dist/node/worker-pool.js')).href)) as PoolModule;
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
  { kind: 'per-axis', axis: 1 },
  { kind: 'per-axis', axis: 2 },
  { kind: 'per-block', axis: 1, blockSize: 32 },
  { kind: 'per-block', axis: 2, blockSize: 16 },
];

describe('KernelPool: results bit-identical to one thread', () => {
  for (const g of GRANULARITIES) {
    it(JSON.stringify(g), async () => {
      const k = getKernels();
      const layout = blockLayout(shape, g);
      const x = pool.allocFloat32(n);
      x.set(sampleData(n, 11));
      expect(n).toBeGreaterThan(mod.MIN_PARALLEL_ELEMENTS);
      // A chunk that starts mid-tensor: the start offset must reach every worker.
      const start = 1000;
      const xs = x.subarray(0, n - start);
      const min1 = new Float32Array(layout.paramCount).fill(Infinity);
      const max1 = new Float32Array(layout.paramCount).fill(-Infinity);
      k.minMax(xs, layout, min1, max1, start, false);
      const min2 = new Float32Array(layout.paramCount).fill(Infinity);
      const max2 = new Float32Array(layout.paramCount).fill(-Infinity);
      await pool.minMax(xs, layout, min2, max2, start, false);
      expect(min2).toEqual(min1);
      expect(max2).toEqual(max1);

      const scale = Float32Array.from(min1, (v, p) => Math.max((max1[p] - Math.min(v, 0)) / 255, 1e-3) || 1);
      const zp = Int32Array.from(scale, (_, p) => (p % 7) - 3);
      const q1 = new Int8Array(xs.length);
      k.quantize(xs, layout, scale, zp, -128, 127, q1, start);
      const q2 = pool.allocCodes('int8', xs.length) as Int8Array;
      await pool.quantize(xs, layout, scale, zp, -128, 127, q2, start);
      expect(q2).toEqual(q1);

      const f1 = new Float32Array(xs.length);
      k.fakeQuantize(xs, layout, scale, zp, -128, 127, f1, start);
      const f2 = pool.allocFloat32(xs.length);
      await pool.fakeQuantize(xs, layout, scale, zp, -128, 127, f2, start);
      expect(f2).toEqual(f1);

      const d1 = new Float32Array(xs.length);
      k.dequantize(q1, layout, scale, zp, d1, start);
      const d2 = pool.allocFloat32(xs.length);
      await pool.dequantize(q2, layout, scale, zp, d2, start);
      expect(d2).toEqual(d1);
    });
  }

  it('NaN propagates through the merged min/max as through one thread', async () => {
    const layout = blockLayout(shape, GRANULARITIES[3]);
    const x = pool.allocFloat32(n);
    x.set(sampleData(n, 12));
    x[n - 5] = NaN;
    const min = new Float32Array(layout.paramCount).fill(Infinity);
    const max = new Float32Array(layout.paramCount).fill(-Infinity);
    await pool.minMax(x, layout, min, max, 0, false);
    const p = Array.from(min).findIndex((v) => Number.isNaN(v));
    expect(p).toBeGreaterThanOrEqual(0);
    expect(Number.isNaN(max[p])).toBe(true);
  });

  it('the window of parameters a slice can touch covers every parameter it uses', () => {
    const layout = blockLayout([4, 10, 6], { kind: 'per-block', axis: 1, blockSize: 3 });
    const paramIndex = (g: number) => {
      const r = Math.floor(g / layout.inner);
      const i = g % layout.inner;
      const o = Math.floor(r / layout.axisLen);
      const b = Math.floor((r % layout.axisLen) / layout.blockSize);
      return o * layout.paramOuterStride + b * layout.inner + i;
    };
    for (const [from, to] of [[0, 240], [7, 61], [60, 61], [59, 180]]) {
      const [lo, hi] = mod.paramWindow(layout, from, to);
      for (let g = from; g < to; g++) {
        expect(paramIndex(g)).toBeGreaterThanOrEqual(lo);
        expect(paramIndex(g)).toBeLessThan(hi);
      }
    }
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
      expect(r.stderr).toBe('');
      expect(readNpy(b).data).toEqual(readNpy(a).data);
    }
  });
});
