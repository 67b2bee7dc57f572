import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Granularity } from '../core/layout.js';
import { blockLayout } from '../core/layout.js';
import { referenceKernels } from '../core/kernels/reference.js';
import { buildDequantTable, DequantCache, dequantizeWithTables } from './dequant-cache.js';

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('DequantCache', () => {
  test('counts a miss then hits per lookup, and returns the same table', () => {
    const c = new DequantCache(4);
    const a = c.table(true, 0.5, 3);
    expect([c.hits, c.misses]).toEqual([0, 1]);
    expect(c.table(true, 0.5, 3)).toBe(a);
    expect([c.hits, c.misses]).toEqual([1, 1]);
    expect(c.table(false, 0.5, 3)).not.toBe(a);
    expect(c.size).toBe(2);
  });

  test('evicts the least recently used table beyond its capacity', () => {
    const c = new DequantCache(2);
    const a = c.table(true, 1, 0);
    c.table(true, 2, 0);
    c.table(true, 1, 0); // a is now most recent
    c.table(true, 3, 0); // evicts scale 2
    expect(c.size).toBe(2);
    expect(c.table(true, 1, 0)).toBe(a);
    const misses = c.misses;
    c.table(true, 2, 0);
    expect(c.misses).toBe(misses + 1);
    c.resize(1);
    expect(c.size).toBe(1);
    c.clear();
    expect(c.size).toBe(0);
    expect(() => new DequantCache(0)).toThrow('cache capacity must be a positive integer, got 0');
  });

  test('table entries are the kernel formula fround((q - zp) * scale), indexed by the code byte', () => {
    const t = buildDequantTable(true, 0.1, -3);
    expect(t[0]).toBe(Math.fround(3 * 0.1));
    expect(t[255]).toBe(Math.fround((-1 + 3) * 0.1));
    expect(t[128]).toBe(Math.fround((-128 + 3) * 0.1));
    expect(buildDequantTable(false, 2, 1)[255]).toBe(508);
  });
});

describe('dequantizeWithTables is bit-identical to the dequantize kernel', () => {
  const scaleArb = fc.float({ min: Math.fround(1e-8), max: Math.fround(1e4), noNaN: true, noDefaultInfinity: true });

  const cases: { name: string; shape: number[]; granularity: Granularity }[] = [
    { name: 'per-tensor', shape: [5, 7], granularity: { kind: 'per-tensor' } },
    { name: 'per-channel, axis 0', shape: [4, 3, 2], granularity: { kind: 'per-axis', axis: 0 } },
    { name: 'per-channel, middle axis', shape: [2, 3, 5], granularity: { kind: 'per-axis', axis: 1 } },
    { name: 'per-channel, last axis (parameters vary along rows)', shape: [3, 4], granularity: { kind: 'per-axis', axis: 1 } },
  ];
  for (const { name, shape, granularity } of cases) {
    for (const signed of [true, false]) {
      test(`${name}, ${signed ? 'int8' : 'uint8'}`, () => {
        const layout = blockLayout(shape, granularity);
        fc.assert(
          fc.property(
            fc.array(scaleArb, { minLength: layout.paramCount, maxLength: layout.paramCount }),
            fc.array(fc.integer({ min: signed ? -128 : 0, max: signed ? 127 : 255 }), { minLength: layout.paramCount, maxLength: layout.paramCount }),
            fc.array(fc.integer({ min: signed ? -128 : 0, max: signed ? 127 : 255 }), { minLength: layout.size, maxLength: layout.size }),
            (scales, zps, qs) => {
              const scale = Float32Array.from(scales);
              const zeroPoint = Int32Array.from(zps);
              const codes = signed ? Int8Array.from(qs) : Uint8Array.from(qs);
              const want = new Float32Array(layout.size);
              referenceKernels.dequantize(codes, layout, scale, zeroPoint, want);
              const got = new Float32Array(layout.size);
              const cache = new DequantCache(2);
              dequantizeWithTables(codes, layout, (p) => cache.table(signed, scale[p], zeroPoint[p]), got);
              expect(bits(got)).toEqual(bits(want));
              expect(cache.hits + cache.misses).toBe(layout.paramCount);
            },
          ),
          { numRuns: 60 },
        );
      });
    }
  }

  test('rejects 16-bit codes', () => {
    const layout = blockLayout([2], { kind: 'per-tensor' });
    expect(() => dequantizeWithTables(new Int16Array(2), layout, () => new Float32Array(256), new Float32Array(2))).toThrow('lookup-table dequantization needs 8-bit codes, got Int16Array');
  });
});
