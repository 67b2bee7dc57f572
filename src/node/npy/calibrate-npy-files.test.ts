import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Granularity } from '../../core/layout.js';
import { blockLayout, normalizeAxis } from '../../core/layout.js';
import { createObserver } from '../../core/observers/builtin-observers.js';
import type { Observer } from '../../core/observers/observer.js';
import type { QParams } from '../../core/qparams.js';
import { dequantize, qparamsFromRange, quantize } from '../../core/quantize.js';
import { countClipped } from '../../core/count-clipped.js';
import { decodeNpy, encodeNpy } from '../../formats/npy.js';
import { calibrateNpyFiles } from './calibrate-npy-files.js';
import { NpyFileReader } from './npy-file-reader.js';
import { observeNpyFiles } from './observe-npy-file.js';
import { quantizeNpyFile } from './quantize-npy-file.js';

const dir = mkdtempSync(join(tmpdir(), 'quantkit-calibrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const shape = [6, 10, 4];
const n = 6 * 10 * 4;
let files = 0;

function base(seed: number, size = n): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: size }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296) * 2 - 1;
  });
}

function write(x: Float32Array, sh: readonly number[] = shape): string {
  const p = join(dir, `f${files++}.npy`);
  writeFileSync(p, encodeNpy({ dtype: 'float32', shape: [...sh], data: x }));
  return p;
}

const open = (paths: readonly string[]) => paths.map((p) => NpyFileReader.open(p));
const close = (rs: readonly NpyFileReader[]) => rs.forEach((r) => r.close());

/** The library's answer: one observer, each file folded in whole with one update. */
function libraryObserver(name: string, options: Record<string, unknown>, arrays: readonly Float32Array[], sh = shape): Observer {
  const o = createObserver(name, options);
  for (const x of arrays) o.update(x, sh);
  return o;
}

/**
 * Data whose per-channel extremes (per-tensor: the global ones) lie in the first chunk the
 * streaming pass reads, so the histogram observers never re-bin within a file and the streamed
 * range must equal one whole-array update exactly: the first slice along axis 0 (axis 1 when the
 * channels are axis 0) holds ±(5 + channel) for every channel.
 */
function extremesFirst(seed: number, axis: number | undefined): Float32Array {
  const x = base(seed);
  const strides = [40, 4, 1];
  if (axis === undefined) {
    x[0] = -7 - seed;
    x[1] = 6 + seed;
    return x;
  }
  const a = normalizeAxis(axis, 3);
  const split = a === 0 ? 1 : 0;
  const other = [0, 1, 2].find((k) => k !== a && k !== split)!;
  for (let c = 0; c < shape[a]; c++) {
    const at = (j: number) => c * strides[a] + j * strides[other];
    x[at(0)] = -(5 + c + seed);
    x[at(1)] = 5 + c + seed;
  }
  return x;
}

const AXES = [undefined, 0, 1, -1] as const;
const schemeOf = (axis: number | undefined): Granularity => (axis === undefined ? { kind: 'per-tensor' } : { kind: 'per-axis', axis });

describe('observeNpyFiles', () => {
  for (const axis of AXES) {
    for (const chunk of [1, 7, 64, 1 << 20]) {
      it(`minmax, axis ${axis}, chunks of ${chunk}: the range of one observer over the whole files`, async () => {
        const arrays = [base(1), base(2), base(3)];
        const readers = open(arrays.map((x) => write(x)));
        try {
          const got = await observeNpyFiles(readers, { name: 'minmax' }, { dtype: 'int8', granularity: schemeOf(axis) }, { chunkElements: chunk });
          const want = libraryObserver('minmax', { axis }, arrays).range({ dtype: 'int8' });
          expect(got.min).toEqual(want.min);
          expect(got.max).toEqual(want.max);
          expect(got.observedMin).toEqual(want.min);
        } finally {
          close(readers);
        }
      });
    }
  }

  const HISTOGRAM_OBSERVERS: [string, Record<string, unknown>][] = [
    ['percentile', { minPercentile: 2, maxPercentile: 97 }],
    ['histogram', { bins: 256 }],
    ['entropy', { bins: 256 }],
  ];
  for (const [name, options] of HISTOGRAM_OBSERVERS) {
    for (const axis of AXES) {
      it(`${name}, axis ${axis}, small chunks keeping every channel: exactly the whole-array observer's range`, async () => {
        const arrays = [extremesFirst(1, axis), extremesFirst(2, axis)];
        const readers = open(arrays.map((x) => write(x)));
        try {
          const scheme = { dtype: 'uint4' as const, granularity: schemeOf(axis) };
          const got = await observeNpyFiles(readers, { name, options }, scheme, { chunkElements: 8 });
          const lib = libraryObserver(name, { ...options, axis }, arrays);
          const want = lib.range(scheme);
          expect(got.min).toEqual(want.min);
          expect(got.max).toEqual(want.max);
          // And the clipping is real: narrower than the observed extremes somewhere.
          const minmax = libraryObserver('minmax', { axis }, arrays).range(scheme);
          expect(got.observedMax).toEqual(minmax.max);
          expect(Array.from(got.max).some((v, p) => v < minmax.max[p])).toBe(true);
        } finally {
          close(readers);
        }
      });
    }
  }

  for (const axis of AXES) {
    it(`moving-average, axis ${axis}: steps once per file whatever the chunking`, async () => {
      const arrays = [base(4), extremesFirst(5, axis), base(6)];
      const readers = open(arrays.map((x) => write(x)));
      try {
        const options = { averagingConstant: 0.5 };
        const got = await observeNpyFiles(readers, { name: 'moving-average', options }, { dtype: 'int8', granularity: schemeOf(axis) }, { chunkElements: 5 });
        const want = libraryObserver('moving-average', { ...options, axis }, arrays).range({ dtype: 'int8' });
        expect(got.min).toEqual(want.min);
        expect(got.max).toEqual(want.max);
        expect(got.max).not.toEqual(got.observedMax);
      } finally {
        close(readers);
      }
    });
  }

  it('moving-average on a rank-1 file per channel (one value per channel per batch)', async () => {
    const arrays = [base(7, 9), base(8, 9)];
    const readers = open(arrays.map((x) => write(x, [9])));
    try {
      const got = await observeNpyFiles(readers, { name: 'moving-average', options: { averagingConstant: 0.25 } }, { dtype: 'int8', granularity: schemeOf(0) });
      const want = libraryObserver('moving-average', { averagingConstant: 0.25, axis: 0 }, arrays, [9]).range({ dtype: 'int8' });
      expect(got.min).toEqual(want.min);
      expect(got.max).toEqual(want.max);
    } finally {
      close(readers);
    }
  });

  it('per-block: min/max over every file, and other observers are refused', async () => {
    const arrays = [base(9), base(10)];
    const readers = open(arrays.map((x) => write(x)));
    const granularity: Granularity = { kind: 'per-block', axis: 1, blockSize: 3 };
    try {
      const got = await observeNpyFiles(readers, { name: 'minmax' }, { dtype: 'int4', granularity }, { chunkElements: 16 });
      const layout = blockLayout(shape, granularity);
      const min = new Float32Array(layout.paramCount).fill(Infinity);
      const max = new Float32Array(layout.paramCount).fill(-Infinity);
      const q0 = quantize(arrays[0], shape, { dtype: 'int4', granularity }).params;
      expect(q0.scale.length).toBe(layout.paramCount);
      for (const x of arrays) {
        for (let g = 0; g < n; g++) {
          const p = paramOf(layout, g);
          min[p] = Math.min(min[p], x[g]);
          max[p] = Math.max(max[p], x[g]);
        }
      }
      expect(got.min).toEqual(min);
      expect(got.max).toEqual(max);
      await expect(observeNpyFiles(readers, { name: 'percentile' }, { dtype: 'int4', granularity })).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    } finally {
      close(readers);
    }
  });

  it('batches must share a rank and the parameters shape', async () => {
    const a = write(base(1));
    const b = write(base(2, 6 * 5 * 8), [6, 5, 8]);
    const c = write(base(3, 60), [6, 10]);
    let readers = open([a, b]);
    try {
      // Per-tensor and per-channel along axis 0 both give the same parameters for [6, 10, 4] and [6, 5, 8].
      await expect(observeNpyFiles(readers, { name: 'minmax' }, { dtype: 'int8' })).resolves.toBeDefined();
      await expect(observeNpyFiles(readers, { name: 'minmax' }, { dtype: 'int8', granularity: schemeOf(0) })).resolves.toBeDefined();
      const e = await observeNpyFiles(readers, { name: 'minmax' }, { dtype: 'int8', granularity: schemeOf(-1) }).catch((err: unknown) => err);
      expect(e).toMatchObject({ code: 'SHAPE_MISMATCH' });
      expect((e as Error).message).toContain(a);
      expect((e as Error).message).toContain(b);
      expect((e as Error).message).toContain('[4]');
      expect((e as Error).message).toContain('[8]');
    } finally {
      close(readers);
    }
    readers = open([a, c]);
    try {
      await expect(observeNpyFiles(readers, { name: 'entropy' }, { dtype: 'int8' })).rejects.toMatchObject({ code: 'SHAPE_MISMATCH', message: expect.stringContaining(`'${c}' has [6, 10]`) });
    } finally {
      close(readers);
    }
  });

  for (const axis of AXES) {
    it(`NaN names the file and its index in the array's shape (axis ${axis})`, async () => {
      const bad = base(11);
      bad[1 * 40 + 7 * 4 + 2] = NaN;
      const paths = [write(base(12)), write(bad)];
      const readers = open(paths);
      try {
        const e = await observeNpyFiles(readers, { name: 'percentile' }, { dtype: 'int8', granularity: schemeOf(axis) }, { chunkElements: 8 }).catch((err: unknown) => err);
        expect(e).toMatchObject({ code: 'NAN_INPUT', details: { index: 70 } });
        expect((e as Error).message).toBe(`${paths[1]}[1, 7, 2] is NaN (flat index 70)`);
      } finally {
        close(readers);
      }
    });
  }

  it('an empty file is an error naming it', async () => {
    const empty = write(new Float32Array(0), [0, 4]);
    const readers = open([write(base(1, 8), [2, 4]), empty]);
    try {
      const e = await observeNpyFiles(readers, { name: 'minmax' }, { dtype: 'int8' }).catch((err: unknown) => err);
      expect(e).toMatchObject({ code: 'EMPTY_INPUT' });
      expect((e as Error).message).toContain(empty);
    } finally {
      close(readers);
    }
  });
});

function paramOf(layout: ReturnType<typeof blockLayout>, g: number): number {
  const r = Math.floor(g / layout.inner);
  const i = g - r * layout.inner;
  const o = Math.floor(r / layout.axisLen);
  const a = r - o * layout.axisLen;
  const b = Math.floor(a / layout.blockSize);
  return layout.varyInner ? o * layout.paramOuterStride + b * layout.inner + i : o * layout.paramOuterStride + b;
}

describe('calibrateNpyFiles', () => {
  const CASES: { name: string; observer: string; options?: Record<string, unknown>; granularity: Granularity; dtype: 'int8' | 'uint4' | 'int4'; symmetric?: boolean }[] = [
    { name: 'percentile per-tensor uint4', observer: 'percentile', options: { minPercentile: 1, maxPercentile: 99 }, granularity: schemeOf(undefined), dtype: 'uint4' },
    { name: 'minmax per-channel axis 0 int8 symmetric', observer: 'minmax', granularity: schemeOf(0), dtype: 'int8', symmetric: true },
    { name: 'histogram per-channel axis -1 int4', observer: 'histogram', options: { bins: 128 }, granularity: schemeOf(-1), dtype: 'int4' },
    { name: 'minmax per-block along axis 1', observer: 'minmax', granularity: { kind: 'per-block', axis: 1, blockSize: 4 }, dtype: 'int4' },
  ];
  for (const c of CASES) {
    it(`${c.name}: the observer's parameters, and measures equal to quantizing each file with the library`, async () => {
      const arrays = [base(21), base(22), extremesFirst(23, c.granularity.kind === 'per-axis' ? c.granularity.axis : undefined)];
      const readers = open(arrays.map((x) => write(x)));
      try {
        const scheme = { dtype: c.dtype, symmetric: c.symmetric, granularity: c.granularity };
        const r = await calibrateNpyFiles(readers, { observer: { name: c.observer, options: c.options }, ...scheme, chunkElements: 1 << 20 });
        let want: QParams;
        if (c.granularity.kind === 'per-block') {
          const perFile = arrays.map((x) => quantize(x, shape, scheme).params);
          expect(perFile[0].scale.length).toBe(r.params.scale.length);
          const min = new Float32Array(r.params.scale.length).fill(Infinity);
          const max = new Float32Array(r.params.scale.length).fill(-Infinity);
          const layout = blockLayout(shape, c.granularity);
          for (const x of arrays) for (let g = 0; g < n; g++) {
            const p = paramOf(layout, g);
            min[p] = Math.min(min[p], x[g]);
            max[p] = Math.max(max[p], x[g]);
          }
          want = qparamsFromRange(min, max, shape, scheme);
        } else {
          const axis = c.granularity.kind === 'per-axis' ? c.granularity.axis : undefined;
          want = libraryObserver(c.observer, { ...c.options, axis }, arrays).qparams(scheme);
        }
        expect(r.params.scale).toEqual(want.scale);
        expect(r.params.zeroPoint).toEqual(want.zeroPoint);
        expect(r.params.paramShape).toEqual(want.paramShape);

        const layout = blockLayout(shape, c.granularity);
        const P = want.scale.length;
        const count = new Float64Array(P);
        const noise = new Float64Array(P);
        const signal = new Float64Array(P);
        let clipped = 0;
        const all: number[] = [];
        for (const x of arrays) {
          const { codes } = quantize(x, shape, { params: want });
          const xhat = dequantize(codes, shape, want);
          clipped += countClipped(x, codes, layout, want);
          for (let g = 0; g < n; g++) {
            const p = paramOf(layout, g);
            count[p]++;
            noise[p] += (x[g] - xhat[g]) ** 2;
            signal[p] += x[g] ** 2;
            all.push(x[g]);
          }
        }
        for (let p = 0; p < P; p++) {
          const q = r.parameters[p];
          expect(q.count).toBe(count[p]);
          expect(q.mse).toBeCloseTo(noise[p] / count[p], 12);
          expect(q.sqnrDb).toBeCloseTo(10 * Math.log10(signal[p] / noise[p]), 9);
          expect(q.scale).toBe(want.scale[p]);
        }
        expect(r.parameters.reduce((s, q) => s + q.clipped, 0)).toBe(clipped);
        expect(r.total.clipped).toBe(clipped);
        expect(r.total.count).toBe(3 * n);
        const lo = Math.min(...all);
        const hi = Math.max(...all);
        expect(r.total.observedMin).toBe(lo);
        expect(r.total.observedMax).toBe(hi);
        expect(r.histogram.counts.reduce((s, v) => s + v, 0)).toBe(3 * n);
        expect(r.histogram.edges[0]).toBe(lo);
        expect(r.histogram.edges.at(-1)).toBe(hi);
        const width = (hi - lo) / 16;
        const firstBin = all.filter((v) => v < lo + width).length;
        expect(r.histogram.counts[0]).toBe(firstBin);

        // Chunked measuring (chunks that start mid-row) gives the same measures.
        const chunked = await calibrateNpyFiles(readers, { observer: { name: 'minmax' }, ...scheme, chunkElements: 7 });
        const whole = await calibrateNpyFiles(readers, { observer: { name: 'minmax' }, ...scheme });
        expect(chunked.parameters).toEqual(whole.parameters);
      } finally {
        close(readers);
      }
    });
  }

  it('percentile clips the outlier minmax keeps', async () => {
    const x = base(31, 4000);
    x[1234] = 60;
    const readers = open([write(x, [4000])]);
    try {
      const opts = { dtype: 'int8' as const };
      const pct = await calibrateNpyFiles(readers, { ...opts, observer: { name: 'percentile', options: { minPercentile: 0.1, maxPercentile: 99.9 } } });
      const mm = await calibrateNpyFiles(readers, { ...opts, observer: { name: 'minmax' } });
      expect(mm.parameters[0].rangeMax).toBe(60);
      expect(mm.total.clipped).toBe(0);
      expect(pct.parameters[0].rangeMax).toBeLessThan(1.01);
      expect(pct.total.clipped).toBeGreaterThanOrEqual(1);
      expect(pct.total.sqnrDb).toBeLessThan(mm.total.sqnrDb);
      // Everything but the outlier is quantized more finely.
      expect(pct.params.scale[0]).toBeLessThan(mm.params.scale[0] / 20);
    } finally {
      close(readers);
    }
  });
});

describe('quantizeNpyFile with an observer', () => {
  it("codes are the library's with the observer's parameters", async () => {
    const x = extremesFirst(41, 0);
    const path = write(x);
    const reader = NpyFileReader.open(path);
    const parts: Uint8Array[] = [];
    try {
      const options = { minPercentile: 5, maxPercentile: 95 };
      const scheme = { dtype: 'uint8' as const, granularity: schemeOf(0) };
      const r = await quantizeNpyFile(reader, { write: (b) => void parts.push(b.slice()) }, { ...scheme, observer: { name: 'percentile', options }, chunkElements: 64 });
      const want = libraryObserver('percentile', { ...options, axis: 0 }, [x]).qparams(scheme);
      expect(r.params.scale).toEqual(want.scale);
      expect(r.params.zeroPoint).toEqual(want.zeroPoint);
      const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
      let o = 0;
      for (const p of parts) {
        bytes.set(p, o);
        o += p.length;
      }
      expect(Array.from(decodeNpy(bytes).data as Uint8Array)).toEqual(Array.from(quantize(x, shape, { params: want }).codes));
      await expect(quantizeNpyFile(reader, { write() {} }, { ...scheme, observer: { name: 'entropy' }, allowInf: true })).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    } finally {
      reader.close();
    }
  });
});
