import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { chooseQParams } from '../choose-qparams.js';
import type { CodeArray, QuantDtype } from '../dtypes.js';
import { allocCodes, QUANT_DTYPE_NAMES, QUANT_DTYPES, quantRange } from '../dtypes.js';
import { isQuantError } from '../errors.js';
import type { BlockLayout, Granularity } from '../layout.js';
import { blockLayout, paramIndex, PER_TENSOR, shapeSize } from '../layout.js';
import { getKernels } from './index.js';
import { referenceKernels } from './reference.js';
import { copyWithMinMax, paramRange, wasmAvailable, wasmKernels, wasmZeroCopy } from './wasm.js';
import { createWasmArena } from './wasm-arena.js';
import { isWasmArray } from './wasm-memory.js';

// Beyond vitest's 5 s default on a 2-core machine: this file property-tests the kernels against the scalar reference over rows of 2048 and more elements.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const f32 = Math.fround;

/** Float32 bit patterns, with every NaN as one pattern (JS does not preserve NaN payloads). */
function bits(a: Float32Array): number[] {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  return Array.from(a, (v, i) => (Number.isNaN(v) ? 0x7fc00000 : u[i]));
}

/** Index of the first difference (-1 if none): toEqual on 60 000-element arrays is slow and prints poorly. */
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

const shapeArb = fc
  .array(fc.oneof({ arbitrary: fc.integer({ min: 1, max: 4 }), weight: 4 }, { arbitrary: fc.integer({ min: 5, max: 40 }), weight: 3 }, { arbitrary: fc.constant(0), weight: 1 }), { maxLength: 4 })
  .filter((s) => shapeSize(s) <= 4000);

function granularityArb(shape: number[]): fc.Arbitrary<Granularity> {
  const rank = shape.length;
  if (rank === 0) return fc.constant(PER_TENSOR);
  const axis = fc.integer({ min: -rank, max: rank - 1 });
  return fc.oneof(
    fc.constant(PER_TENSOR),
    axis.map((a) => ({ kind: 'per-axis', axis: a }) as const),
    fc.tuple(axis, fc.integer({ min: 1, max: 12 })).map(([a, b]) => ({ kind: 'per-block', axis: a, blockSize: b }) as const),
  );
}

const SPECIALS = [0, -0, Infinity, -Infinity, NaN, 1.4e-45, -1.4e-45, 1.1754942e-38, -3.4028235e38, 3.4028235e38, 0.5, -0.5, 1.5, 2.5];

/** Mostly ordinary values at a random magnitude (tiny to huge), with specials and raw float32s mixed in. */
function valuesArb(n: number): fc.Arbitrary<Float32Array> {
  const magnitude = fc.constantFrom(1, 1e-3, 1e3, 1e-20, 1e20, 1e-38, 1e-42, 1e37);
  const value = fc.oneof(
    { arbitrary: fc.float({ min: -4, max: 4, noNaN: true }), weight: 8 },
    { arbitrary: fc.constantFrom(...SPECIALS), weight: 1 },
    { arbitrary: fc.float(), weight: 1 },
  );
  // JS writes one NaN pattern; negative, signalling and payload NaNs only arrive as raw bits.
  const nanBits = fc.array(fc.tuple(fc.nat(Math.max(n - 1, 0)), fc.constantFrom(0xffc00000, 0xff800001, 0x7f800001, 0xffffffff, 0x7fc00001)), { maxLength: 3 });
  return fc.tuple(fc.array(value, { minLength: n, maxLength: n }), magnitude, fc.boolean(), fc.boolean(), fc.boolean(), nanBits).map(([vs, m, constant, finite, noNaN, raw]) => {
    const x = Float32Array.from(vs, (v) => f32(v * m));
    if (constant && n > 0) x.fill(x[0]);
    if (n > 0) for (const [i, b] of raw) new Uint32Array(x.buffer)[i] = b;
    // Most cases stay finite so chooseQParams sees a real range; the rest exercise NaN / Inf paths.
    if (finite) for (let i = 0; i < n; i++) if (!Number.isFinite(x[i])) x[i] = f32(i * 0.37 * m);
    if (noNaN) for (let i = 0; i < n; i++) if (Number.isNaN(x[i])) x[i] = -0;
    return x;
  });
}

interface Case {
  shape: number[];
  layout: BlockLayout;
  x: Float32Array;
  dtype: QuantDtype;
  qmin: number;
  qmax: number;
  scale: Float32Array;
  zeroPoint: Int32Array;
  /** Chunk boundaries, ascending, from 0 to size. */
  cuts: number[];
}

/** Cases over the given shapes and granularities: values, dtype, parameters, exact ties and chunk cuts. */
function casesOver(shapes: fc.Arbitrary<number[]>, granularities: (shape: number[]) => fc.Arbitrary<Granularity>): fc.Arbitrary<Case> {
  return shapes.chain((shape) => caseOf(shape, granularities(shape)));
}

function caseOf(shape: number[], granularity: fc.Arbitrary<Granularity>): fc.Arbitrary<Case> {
  const size = shapeSize(shape);
  return fc
    .record({
      granularity,
      x: valuesArb(size),
      dtype: fc.constantFrom(...QUANT_DTYPE_NAMES).map((d) => QUANT_DTYPES[d]),
      narrow: fc.boolean(),
      symmetric: fc.boolean(),
      arbitraryParams: fc.boolean(),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
      scales: fc.array(fc.float({ min: f32(1e-45), max: f32(3e38), noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 8 }),
      ties: fc.array(fc.tuple(fc.nat(size), fc.integer({ min: -300, max: 300 })), { maxLength: 12 }),
      cuts: fc.array(fc.nat(size), { maxLength: 4 }),
    })
    .map((r): Case => {
      const layout = blockLayout(shape, r.granularity);
      const { qmin, qmax } = quantRange(r.dtype, r.narrow && r.dtype.signed);
      let scale: Float32Array;
      let zeroPoint: Int32Array;
      if (r.arbitraryParams) {
        scale = Float32Array.from({ length: layout.paramCount }, (_, i) => r.scales[i % r.scales.length]);
        zeroPoint = Int32Array.from({ length: layout.paramCount }, (_, i) => qmin + ((r.seed * (i + 1)) % (qmax - qmin + 1)));
      } else {
        const min = new Float32Array(layout.paramCount).fill(Infinity);
        const max = new Float32Array(layout.paramCount).fill(-Infinity);
        if (size > 0) referenceKernels.minMax(r.x, layout, min, max, 0, true);
        ({ scale, zeroPoint } = chooseQParams(min, max, { dtype: r.dtype, symmetric: r.symmetric, narrow: r.narrow && r.dtype.signed }));
      }
      // Exact ties: x / scale = k + 0.5 lands halfway between two codes.
      for (const [g, k] of r.ties) if (g < size) r.x[g] = f32((k + 0.5) * scale[paramIndex(layout, g)]);
      const cuts = [...new Set([0, ...r.cuts, size])].sort((a, b) => a - b);
      return { shape, layout, x: r.x, dtype: r.dtype, qmin, qmax, scale, zeroPoint, cuts };
    });
}

const caseArb = casesOver(shapeArb, granularityArb);

/**
 * Rows of at least 2048 elements whose parameters run along the row (per channel along the last
 * axis, per block along an earlier axis), several rows per parameter set: quantize takes those
 * rows four at a time (quantizeRowsRun), with a row length that is not always a multiple of 8 and
 * a row count that is not always a multiple of 4.
 */
const wideRowCaseArb = casesOver(
  fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 2048, max: 2075 })).map(([o, r, c]) => (o === 1 ? [r, c] : [o, r, c])),
  (shape) =>
    fc.oneof(
      fc.constant<Granularity>({ kind: 'per-axis', axis: -1 }),
      fc.integer({ min: 1, max: 5 }).map((blockSize): Granularity => ({ kind: 'per-block', axis: -2, blockSize })),
      fc.integer({ min: 1, max: 2 }).map((blockSize): Granularity => ({ kind: 'per-block', axis: 0, blockSize: shape.length === 3 ? blockSize : blockSize + 1 })),
    ),
);

/** Runs `call(from, to)` for every chunk of the case: the WASM side sees mid-row, mid-block starts. */
function inChunks(c: Case, call: (from: number, to: number) => void): void {
  for (let k = 0; k + 1 < c.cuts.length; k++) call(c.cuts[k], c.cuts[k + 1]);
}

const RUNS = { numRuns: 500 };

describe('wasmKernels', () => {
  it('is available on Node 20 and is what getKernels() returns', () => {
    expect(wasmAvailable()).toBe(true);
    expect(getKernels()).toBe(wasmKernels);
  });

  it('quantize equals the reference for every storage, granularity and chunking', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const want = allocCodes(c.dtype, c.x.length);
        referenceKernels.quantize(c.x, c.layout, c.scale, c.zeroPoint, c.qmin, c.qmax, want);
        const got = allocCodes(c.dtype, c.x.length);
        inChunks(c, (a, b) => wasmKernels.quantize(c.x.subarray(a, b), c.layout, c.scale, c.zeroPoint, c.qmin, c.qmax, got.subarray(a, b), a));
        expect(Array.from(got)).toEqual(Array.from(want));
      }),
      RUNS,
    );
  });

  it('dequantize equals the reference bit for bit', () => {
    fc.assert(
      fc.property(caseArb, fc.integer(), (c, seed) => {
        const q = allocCodes(c.dtype, c.x.length);
        // Any code the storage holds, not only [qmin, qmax]: dequantize must not assume clamped input.
        const span = c.dtype.storage.endsWith('8') ? 256 : 65536;
        for (let i = 0; i < q.length; i++) q[i] = (seed + i * 2654435761) % span;
        const want = new Float32Array(q.length);
        referenceKernels.dequantize(q, c.layout, c.scale, c.zeroPoint, want);
        const got = new Float32Array(q.length);
        inChunks(c, (a, b) => wasmKernels.dequantize(q.subarray(a, b) as CodeArray, c.layout, c.scale, c.zeroPoint, got.subarray(a, b), a));
        expect(bits(got)).toEqual(bits(want));
      }),
      RUNS,
    );
  });

  it('fakeQuantize equals the reference bit for bit', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const want = new Float32Array(c.x.length);
        referenceKernels.fakeQuantize(c.x, c.layout, c.scale, c.zeroPoint, c.qmin, c.qmax, want);
        const got = new Float32Array(c.x.length);
        inChunks(c, (a, b) => wasmKernels.fakeQuantize(c.x.subarray(a, b), c.layout, c.scale, c.zeroPoint, c.qmin, c.qmax, got.subarray(a, b), a));
        expect(bits(got)).toEqual(bits(want));
      }),
      RUNS,
    );
  });

  it('minMax equals the reference (NaN propagation, -0 < +0, finiteOnly skipping ±Inf) from any running state', () => {
    fc.assert(
      fc.property(caseArb, fc.boolean(), fc.boolean(), (c, finiteOnly, running) => {
        const init = (fillWith: number) => {
          const a = new Float32Array(c.layout.paramCount).fill(fillWith);
          // A running state from an earlier chunk, including signed zeros and a NaN already seen.
          if (running) for (let i = 0; i < a.length; i++) a[i] = [fillWith, 0, -0, 1, -1, NaN][i % 6];
          return a;
        };
        const [wantMin, wantMax, gotMin, gotMax] = [init(Infinity), init(-Infinity), init(Infinity), init(-Infinity)];
        // A NaN in only one of the two running arrays (here a negative one, and a positive one)
        // must stay in that array alone.
        if (running && wantMin.length > 2) {
          new Uint32Array(wantMin.buffer)[1] = new Uint32Array(gotMin.buffer)[1] = 0xffc00000;
          wantMax[2] = gotMax[2] = NaN;
        }
        referenceKernels.minMax(c.x, c.layout, wantMin, wantMax, 0, finiteOnly);
        inChunks(c, (a, b) => wasmKernels.minMax(c.x.subarray(a, b), c.layout, gotMin, gotMax, a, finiteOnly));
        expect(bits(gotMin)).toEqual(bits(wantMin));
        expect(bits(gotMax)).toEqual(bits(wantMax));
      }),
      RUNS,
    );
  });

  it('pack and unpack equal the reference on any length, and round-trip', () => {
    fc.assert(
      fc.property(fc.constantFrom(2, 4) as fc.Arbitrary<2 | 4>, fc.boolean(), fc.uint8Array({ maxLength: 300 }), (b, signed, raw) => {
        const codes = signed ? new Int8Array(raw.buffer) : raw;
        const bytes = Math.ceil((codes.length * b) / 8);
        const want = new Uint8Array(bytes).fill(0xaa);
        const got = new Uint8Array(bytes).fill(0x55);
        referenceKernels.pack(codes, b, want);
        wasmKernels.pack(codes, b, got);
        expect(Array.from(got)).toEqual(Array.from(want));
        const Out = signed ? Int8Array : Uint8Array;
        const back = new Out(codes.length);
        const wantBack = new Out(codes.length);
        referenceKernels.unpack(got, b, signed, wantBack);
        wasmKernels.unpack(got, b, signed, back);
        expect(Array.from(back)).toEqual(Array.from(wantBack));
        // Codes inside the bit width survive the round trip.
        const mask = (1 << b) - 1;
        const half = 1 << (b - 1);
        expect(Array.from(back)).toEqual(Array.from(codes, (v) => (signed ? (((v & mask) ^ half) - half) : v & mask)));
      }),
      { numRuns: 300 },
    );
  });

  it('matches the reference across many staging chunks (large tensors, offsets that are not chunk multiples)', () => {
    const shape = [7, 9000];
    const n = shapeSize(shape);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = f32(Math.sin(i * 0.731) * (1 + (i % 97)));
    const dtype = QUANT_DTYPES.int4;
    for (const granularity of [PER_TENSOR, { kind: 'per-axis', axis: 0 }, { kind: 'per-axis', axis: 1 }, { kind: 'per-block', axis: 1, blockSize: 32 }, { kind: 'per-block', axis: 0, blockSize: 3 }] as const) {
      const layout = blockLayout(shape, granularity);
      const min = new Float32Array(layout.paramCount).fill(Infinity);
      const max = new Float32Array(layout.paramCount).fill(-Infinity);
      const wantMin = min.slice();
      const wantMax = max.slice();
      wasmKernels.minMax(x, layout, min, max);
      referenceKernels.minMax(x, layout, wantMin, wantMax);
      expect(firstDiff(bits(min), bits(wantMin))).toBe(-1);
      expect(firstDiff(bits(max), bits(wantMax))).toBe(-1);
      const { scale, zeroPoint } = chooseQParams(min, max, { dtype, symmetric: false, narrow: false });
      const start = 12345;
      const want = new Int8Array(n - start);
      const got = new Int8Array(n - start);
      referenceKernels.quantize(x.subarray(start), layout, scale, zeroPoint, dtype.qmin, dtype.qmax, want, start);
      wasmKernels.quantize(x.subarray(start), layout, scale, zeroPoint, dtype.qmin, dtype.qmax, got, start);
      expect(firstDiff(got, want)).toBe(-1);
      const wantF = new Float32Array(n - start);
      const gotF = new Float32Array(n - start);
      referenceKernels.dequantize(want, layout, scale, zeroPoint, wantF, start);
      wasmKernels.dequantize(got, layout, scale, zeroPoint, gotF, start);
      expect(firstDiff(bits(gotF), bits(wantF))).toBe(-1);
    }
    const packed = new Uint8Array(Math.ceil(n / 2));
    const codes = Int8Array.from({ length: n }, (_, i) => (i % 16) - 8);
    wasmKernels.pack(codes, 4, packed);
    const back = new Int8Array(n);
    wasmKernels.unpack(packed, 4, true, back);
    expect(firstDiff(back, codes)).toBe(-1);
  });

  it('keeps reference results where the SIMD path would not be exact (huge zero points, qmin/qmax outside the storage)', () => {
    const x = Float32Array.from({ length: 40 }, (_, i) => f32((i - 20) * 0.75));
    const layout = blockLayout([40], PER_TENSOR);
    const scale = new Float32Array([0.25]);
    for (const zp of [2 ** 21 + 1, -(2 ** 21) - 1, -(2 ** 30), 2 ** 31 - 1]) {
      const zeroPoint = new Int32Array([zp]);
      const want = new Float32Array(40);
      const got = new Float32Array(40);
      referenceKernels.fakeQuantize(x, layout, scale, zeroPoint, -(2 ** 31), 2 ** 31 - 1, want);
      wasmKernels.fakeQuantize(x, layout, scale, zeroPoint, -(2 ** 31), 2 ** 31 - 1, got);
      expect(bits(got)).toEqual(bits(want));
      const q = new Int16Array(40).map((_, i) => i * 1000 - 20000);
      referenceKernels.dequantize(q, layout, scale, zeroPoint, want);
      wasmKernels.dequantize(q, layout, scale, zeroPoint, got);
      expect(bits(got)).toEqual(bits(want));
    }
    // Every zero point of a call is checked, in the SIMD part of the check and in its tail.
    const shape = [3, 11];
    const perChannel = blockLayout(shape, { kind: 'per-axis', axis: 1 });
    const xs = Float32Array.from({ length: 33 }, (_, i) => f32((i - 16) * 1.25));
    for (const at of [2, 9]) {
      for (const zp of [2 ** 30, -(2 ** 30)]) {
        const zeroPoint = new Int32Array(11).fill(3);
        zeroPoint[at] = zp;
        const scales = new Float32Array(11).fill(0.5);
        const wantQ = new Int16Array(33);
        const gotQ = new Int16Array(33);
        referenceKernels.quantize(xs, perChannel, scales, zeroPoint, -32768, 32767, wantQ);
        wasmKernels.quantize(xs, perChannel, scales, zeroPoint, -32768, 32767, gotQ);
        expect(firstDiff(gotQ, wantQ)).toBe(-1);
      }
    }
    // 300 does not fit a Uint8Array: typed-array stores wrap, as the reference's do.
    const want = new Uint8Array(40);
    const got = new Uint8Array(40);
    referenceKernels.quantize(x, layout, scale, new Int32Array([100]), 0, 300, want);
    wasmKernels.quantize(x, layout, scale, new Int32Array([100]), 0, 300, got);
    expect(got).toEqual(want);
  });

  it('paramRange covers every parameter a chunk uses', () => {
    fc.assert(
      fc.property(shapeArb.filter((s) => shapeSize(s) > 0).chain((s) => fc.tuple(fc.constant(s), granularityArb(s), fc.nat(shapeSize(s) - 1), fc.nat(shapeSize(s)))), ([shape, g, a, len]) => {
        const layout = blockLayout(shape, g);
        const n = Math.max(1, Math.min(len, layout.size - a));
        const [lo, hi] = paramRange(layout, a, n);
        expect(lo).toBeGreaterThanOrEqual(0);
        expect(hi).toBeLessThan(layout.paramCount);
        for (let i = a; i < a + n; i++) {
          const p = paramIndex(layout, i);
          expect(p >= lo && p <= hi).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('rejects bad arguments with QuantErrors', () => {
    const layout = blockLayout([4, 3], { kind: 'per-axis', axis: 0 });
    const x = new Float32Array(12);
    const err = (f: () => void, code: string) => {
      try {
        f();
      } catch (e) {
        expect(isQuantError(e) && e.code).toBe(code);
        return;
      }
      throw new Error('expected a QuantError');
    };
    err(() => wasmKernels.quantize(x, layout, new Float32Array(3).fill(1), new Int32Array(3), 0, 255, new Uint8Array(12)), 'INVALID_PARAMS');
    err(() => wasmKernels.quantize(x, layout, new Float32Array(4).fill(1), new Int32Array(4), 0, 255, new Uint8Array(11)), 'SHAPE_MISMATCH');
    err(() => wasmKernels.dequantize(new Uint8Array(4), layout, new Float32Array(4), new Int32Array(4), new Float32Array(4), 10), 'SHAPE_MISMATCH');
    err(() => wasmKernels.quantize(x, layout, new Float32Array(4), new Int32Array(4), 0, 255, new Float32Array(12) as unknown as Uint8Array), 'INVALID_ARGUMENT');
    err(() => wasmKernels.pack(new Uint8Array(4), 3 as 4, new Uint8Array(2)), 'INVALID_ARGUMENT');
    err(() => wasmKernels.unpack(new Uint8Array(4), 8 as 4, false, new Uint8Array(2)), 'INVALID_ARGUMENT');
  });
});

/** Where a test puts an array: the JS heap (staged) or a WASM arena (in place). */
type Where = 'heap' | 'wasm';
const whereArb = fc.constantFrom<Where>('heap', 'wasm');
const arena = createWasmArena();

/** A copy of `a` in the given place (a filled copy, so outputs start with stale bytes too). */
function placed<T extends Float32Array | CodeArray>(a: T, where: Where): T {
  if (where === 'heap') return a.slice() as T;
  const ctor = a.constructor as unknown as { BYTES_PER_ELEMENT: number; name: string };
  const copy =
    a instanceof Float32Array ? arena.float32(a.length) : ctor.name === 'Int8Array' ? arena.codes('int8', a.length) : ctor.name === 'Uint8Array' ? arena.uint8(a.length) : ctor.name === 'Int16Array' ? arena.codes('int16', a.length) : arena.codes('uint16', a.length);
  copy.set(a as never);
  expect(isWasmArray(copy)).toBe(true);
  return copy as T;
}

describe('wasmKernels on wide rows sharing vector parameters', () => {
  it('quantize equals the reference staged and in place, at any chunk offset', () => {
    fc.assert(
      fc.property(wideRowCaseArb, whereArb, whereArb, (c, xWhere, outWhere) => {
        arena.reset();
        const n = c.x.length;
        const want = allocCodes(c.dtype, n);
        referenceKernels.quantize(c.x, c.layout, c.scale, c.zeroPoint, c.qmin, c.qmax, want);
        const x = placed(c.x, xWhere);
        const got = placed(allocCodes(c.dtype, n).fill(7), outWhere);
        inChunks(c, (a, b) => wasmKernels.quantize(x.subarray(a, b), c.layout, c.scale, c.zeroPoint, c.qmin, c.qmax, got.subarray(a, b), a));
        expect(firstDiff(got, want)).toBe(-1);
        // One call over everything: every row shared by a block (or the whole tensor) goes in one group run.
        const whole = placed(allocCodes(c.dtype, n).fill(7), outWhere);
        wasmKernels.quantize(x, c.layout, c.scale, c.zeroPoint, c.qmin, c.qmax, whole);
        expect(firstDiff(whole, want)).toBe(-1);
      }),
      { numRuns: 40 },
    );
  });

  it('minMax equals the reference staged and in place, in chunks and in one call, with or without ±Inf skipped', () => {
    fc.assert(
      fc.property(wideRowCaseArb, whereArb, fc.boolean(), (c, xWhere, finiteOnly) => {
        arena.reset();
        const x = placed(c.x, xWhere);
        const [wantMin, gotMin, wholeMin] = [0, 0, 0].map(() => new Float32Array(c.layout.paramCount).fill(Infinity));
        const [wantMax, gotMax, wholeMax] = [0, 0, 0].map(() => new Float32Array(c.layout.paramCount).fill(-Infinity));
        referenceKernels.minMax(c.x, c.layout, wantMin, wantMax, 0, finiteOnly);
        inChunks(c, (a, b) => wasmKernels.minMax(x.subarray(a, b), c.layout, gotMin, gotMax, a, finiteOnly));
        wasmKernels.minMax(x, c.layout, wholeMin, wholeMax, 0, finiteOnly);
        for (const [got, want] of [[gotMin, wantMin], [gotMax, wantMax], [wholeMin, wantMin], [wholeMax, wantMax]]) expect(firstDiff(bits(got), bits(want))).toBe(-1);
      }),
      { numRuns: 40 },
    );
  });
});

describe('wasmKernels in place (arrays living in the shared WASM memory)', () => {
  it('runs zero-copy on Node (shared memory)', () => {
    expect(wasmZeroCopy()).toBe(true);
    expect(arena.inWasmMemory).toBe(true);
  });

  it('every kernel equals the reference whichever side lives in WASM memory, at any chunk offset', () => {
    fc.assert(
      fc.property(caseArb, whereArb, whereArb, fc.boolean(), (c, xWhere, outWhere, finiteOnly) => {
        arena.reset();
        const n = c.x.length;
        const x = placed(c.x, xWhere);
        const want = allocCodes(c.dtype, n);
        referenceKernels.quantize(c.x, c.layout, c.scale, c.zeroPoint, c.qmin, c.qmax, want);
        const got = placed(allocCodes(c.dtype, n).fill(7), outWhere);
        inChunks(c, (a, b) => wasmKernels.quantize(x.subarray(a, b), c.layout, c.scale, c.zeroPoint, c.qmin, c.qmax, got.subarray(a, b), a));
        expect(firstDiff(got, want)).toBe(-1);

        const wantF = new Float32Array(n);
        referenceKernels.dequantize(want, c.layout, c.scale, c.zeroPoint, wantF);
        const q = placed(want, xWhere);
        const gotF = placed(new Float32Array(n).fill(3), outWhere);
        inChunks(c, (a, b) => wasmKernels.dequantize(q.subarray(a, b) as CodeArray, c.layout, c.scale, c.zeroPoint, gotF.subarray(a, b), a));
        expect(firstDiff(bits(gotF), bits(wantF))).toBe(-1);

        referenceKernels.fakeQuantize(c.x, c.layout, c.scale, c.zeroPoint, c.qmin, c.qmax, wantF);
        inChunks(c, (a, b) => wasmKernels.fakeQuantize(x.subarray(a, b), c.layout, c.scale, c.zeroPoint, c.qmin, c.qmax, gotF.subarray(a, b), a));
        expect(firstDiff(bits(gotF), bits(wantF))).toBe(-1);

        const [wantMin, gotMin] = [0, 0].map(() => new Float32Array(c.layout.paramCount).fill(Infinity));
        const [wantMax, gotMax] = [0, 0].map(() => new Float32Array(c.layout.paramCount).fill(-Infinity));
        referenceKernels.minMax(c.x, c.layout, wantMin, wantMax, 0, finiteOnly);
        inChunks(c, (a, b) => wasmKernels.minMax(x.subarray(a, b), c.layout, gotMin, gotMax, a, finiteOnly));
        expect(bits(gotMin)).toEqual(bits(wantMin));
        expect(bits(gotMax)).toEqual(bits(wantMax));
      }),
      { numRuns: 300 },
    );
  });

  it('copyWithMinMax copies x into WASM memory and folds the same range as the reference, for any chunk size', () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 1, max: 300 }), fc.boolean(), (c, chunk, finiteOnly) => {
        arena.reset();
        const n = c.x.length;
        const into = arena.float32(n).fill(5);
        const [wantMin, gotMin] = [0, 0].map(() => new Float32Array(c.layout.paramCount).fill(Infinity));
        const [wantMax, gotMax] = [0, 0].map(() => new Float32Array(c.layout.paramCount).fill(-Infinity));
        if (n > 0) referenceKernels.minMax(c.x, c.layout, wantMin, wantMax, 0, finiteOnly);
        copyWithMinMax(c.x, into, c.layout, gotMin, gotMax, finiteOnly, chunk);
        expect(firstDiff(bits(into), bits(c.x))).toBe(-1);
        expect(bits(gotMin)).toEqual(bits(wantMin));
        expect(bits(gotMax)).toEqual(bits(wantMax));
      }),
      { numRuns: 200 },
    );
    expect(() => copyWithMinMax(new Float32Array(3), arena.float32(2), blockLayout([3], PER_TENSOR), new Float32Array(1), new Float32Array(1), false, 64)).toThrow(/2 elements, expected 3/);
  });

  it('fakeQuantize in place over its own input (out === x) equals the reference', () => {
    const x = arena.float32(1000);
    for (let i = 0; i < x.length; i++) x[i] = f32(Math.sin(i) * 5);
    const want = new Float32Array(1000);
    const layout = blockLayout([10, 100], { kind: 'per-axis', axis: 1 });
    const scale = Float32Array.from({ length: 100 }, (_, i) => f32(0.01 + i * 0.001));
    const zeroPoint = new Int32Array(100).fill(3);
    referenceKernels.fakeQuantize(x, layout, scale, zeroPoint, -128, 127, want);
    wasmKernels.fakeQuantize(x, layout, scale, zeroPoint, -128, 127, x);
    expect(bits(x)).toEqual(bits(want));
  });

  it('pack and unpack equal the reference with either side in WASM memory, across staging chunks', () => {
    fc.assert(
      fc.property(fc.constantFrom(2, 4) as fc.Arbitrary<2 | 4>, fc.boolean(), fc.integer({ min: 1, max: 40000 }), whereArb, whereArb, (b, signed, n, inWhere, outWhere) => {
        arena.reset();
        const raw = Uint8Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 24);
        const codes = placed(signed ? new Int8Array(raw.buffer) : raw, inWhere);
        const bytes = Math.ceil((n * b) / 8);
        const want = new Uint8Array(bytes);
        referenceKernels.pack(codes, b, want);
        const got = placed(new Uint8Array(bytes).fill(0x55), outWhere);
        wasmKernels.pack(codes, b, got);
        expect(firstDiff(got, want)).toBe(-1);
        const wantBack = signed ? new Int8Array(n) : new Uint8Array(n);
        referenceKernels.unpack(want, b, signed, wantBack);
        const packed = placed(want, outWhere);
        const back = placed(signed ? new Int8Array(n) : new Uint8Array(n), inWhere);
        wasmKernels.unpack(packed, b, signed, back as Int8Array);
        expect(firstDiff(back, wantBack)).toBe(-1);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps working on arrays allocated before the memory grew', () => {
    const local = createWasmArena();
    const x = local.float32(4096);
    for (let i = 0; i < x.length; i++) x[i] = i - 2000;
    const q = local.codes('int16', 4096);
    // Force growth far past the current end: the old views must stay attached and in place.
    const big = local.float32(8 * 1024 * 1024);
    expect(big.length).toBe(8 * 1024 * 1024);
    expect(x.length).toBe(4096);
    const layout = blockLayout([4096], PER_TENSOR);
    wasmKernels.quantize(x, layout, new Float32Array([1]), new Int32Array([0]), -32768, 32767, q);
    expect(isWasmArray(x) && isWasmArray(q)).toBe(true);
    expect(Array.from(q.subarray(0, 3))).toEqual([-2000, -1999, -1998]);
    local.free();
  });
});
