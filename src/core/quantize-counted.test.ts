import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { countClipped } from './count-clipped.js';
import type { Kernels } from './kernels/index.js';
import { getKernels, referenceKernels, setKernels, wasmAvailable, wasmKernels } from './kernels/index.js';
import { blockLayout, PER_TENSOR } from './layout.js';
import type { Granularity } from './layout.js';
import { qparamsFromRange, quantizeCounted } from './quantize.js';
import { roundHalfEven } from './round.js';
import { quantError } from '../../test/helpers/quant-error.js';

const active = getKernels();
afterEach(() => {
  setKernels(active);
  vi.restoreAllMocks();
});

const KERNELS: [string, Kernels][] = [['reference', referenceKernels], ...(wasmAvailable() ? ([['wasm', wasmKernels]] as [string, Kernels][]) : [])];

/** The formula value by value: q = clamp(roundHalfEven(x / scale) + zeroPoint), NaN → zeroPoint. */
function referenceCodes(x: Float32Array, shape: number[], granularity: Granularity, scale: Float32Array, zeroPoint: Int32Array | Float32Array, qmin: number, qmax: number) {
  const inner = granularity.kind === 'per-tensor' ? x.length : shape.slice(granularity.axis + 1).reduce((a, d) => a * d, 1);
  const count = granularity.kind === 'per-tensor' ? 1 : shape[granularity.axis];
  const codes: number[] = [];
  let clipped = 0;
  for (let i = 0; i < x.length; i++) {
    const p = granularity.kind === 'per-tensor' ? 0 : Math.floor(i / inner) % count;
    if (x[i] !== x[i]) {
      codes.push(zeroPoint[p]);
      continue;
    }
    const v = roundHalfEven(Math.fround(x[i] / scale[p])) + zeroPoint[p];
    if (v < qmin || v > qmax) clipped++;
    codes.push(Math.min(qmax, Math.max(qmin, v)));
  }
  return { codes, clipped };
}

const tensor = fc
  .record({ rows: fc.integer({ min: 1, max: 5 }), cols: fc.integer({ min: 1, max: 9 }), perAxis: fc.boolean(), symmetric: fc.boolean(), dtype: fc.constantFrom('int8' as const, 'uint8' as const, 'int4' as const, 'uint16' as const) })
  .chain((s) => fc.record({ s: fc.constant(s), values: fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e4, max: 1e4 }), { minLength: s.rows * s.cols, maxLength: s.rows * s.cols }) }));

describe('quantizeCounted', () => {
  it.each(KERNELS)('dynamic parameters: codes are the formula, none clipped, nothing non-finite (%s kernels, fuzzed)', (_, kernels) => {
    fc.assert(
      fc.property(tensor, ({ s, values }) => {
        const x = Float32Array.from(values);
        const shape = [s.rows, s.cols];
        const granularity: Granularity = s.perAxis ? { kind: 'per-axis', axis: 1 } : PER_TENSOR;
        const r = quantizeCounted(x, shape, { dtype: s.dtype, symmetric: s.symmetric, granularity, countClipped: true, kernels });
        const ref = referenceCodes(x, shape, granularity, r.params.scale, r.params.zeroPoint, r.params.qmin, r.params.qmax);
        expect(Array.from(r.codes)).toEqual(ref.codes);
        expect(r.clipped).toBe(ref.clipped);
        expect(r.nonFinite).toBe(0);
      }),
      { seed: 1301, numRuns: 150 },
    );
  });

  it.each(KERNELS)('given parameters: clipped values are counted exactly, per tensor and per axis (%s kernels, fuzzed)', (_, kernels) => {
    fc.assert(
      fc.property(tensor, fc.float({ min: Math.fround(0.01), max: 1, noNaN: true }), ({ s, values }, shrink) => {
        const x = Float32Array.from(values);
        const shape = [s.rows, s.cols];
        const granularity: Granularity = s.perAxis ? { kind: 'per-axis', axis: 1 } : PER_TENSOR;
        const layout = blockLayout(shape, granularity);
        // Parameters of a range narrower than the data, so some values clip.
        const min = new Float32Array(layout.paramCount).fill(-100 * shrink);
        const max = new Float32Array(layout.paramCount).fill(100 * shrink);
        const params = qparamsFromRange(min, max, shape, { dtype: s.dtype, symmetric: s.symmetric, granularity });
        const r = quantizeCounted(x, shape, { params, countClipped: true, kernels });
        const ref = referenceCodes(x, shape, granularity, params.scale, params.zeroPoint, params.qmin, params.qmax);
        expect(Array.from(r.codes)).toEqual(ref.codes);
        expect(r.clipped).toBe(ref.clipped);
        expect(r.clipped).toBe(countClipped(x, r.codes, layout, params));
        const unscanned = quantizeCounted(x, shape, { params, scan: false, countClipped: true, kernels });
        expect(unscanned.scan).toBeNull();
        expect(Array.from(unscanned.codes)).toEqual(ref.codes);
        expect(unscanned.clipped).toBe(ref.clipped);
      }),
      { seed: 1302, numRuns: 150 },
    );
  });

  it.each(KERNELS)('what checkScan lets through: NaN encodes as the zero point, infinities saturate and count as clipped and non-finite (%s kernels)', (_, kernels) => {
    const x = new Float32Array([1, NaN, -2, Infinity, 3, -Infinity]);
    const finite = (v: Float32Array) => {
      const out = new Float32Array(1);
      const hi = new Float32Array(1);
      out[0] = Math.min(...Array.from(v).filter(Number.isFinite));
      hi[0] = Math.max(...Array.from(v).filter(Number.isFinite));
      return { min: out, max: hi };
    };
    const r = quantizeCounted(x, [6], { dtype: 'int8', checkScan: () => {}, range: (v) => finite(v), countClipped: true, kernels });
    expect(r.scan).toMatchObject({ hasNaN: true, hasInf: true });
    expect(r.nonFinite).toBe(3);
    expect(r.clipped).toBe(2);
    expect(r.codes[1]).toBe(r.params.zeroPoint[0]);
    expect([r.codes[3], r.codes[5]]).toEqual([127, -128]);
    expect(quantError(() => quantizeCounted(x, [6], { dtype: 'int8', kernels }))).toMatchObject({ code: 'NAN_INPUT' });
    expect(quantError(() => quantizeCounted(new Float32Array([1, -Infinity]), [2], { dtype: 'int8', kernels }))).toMatchObject({ code: 'INF_INPUT' });
  });

  it.runIf(wasmAvailable())('with the WebAssembly kernels the range comes from the staging copy: no separate min/max pass', () => {
    const minMax = vi.spyOn(wasmKernels, 'minMax');
    const x = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i) * 5);
    const r = quantizeCounted(x, [64, 64], { dtype: 'int8', granularity: { kind: 'per-axis', axis: 0 }, countClipped: true, kernels: wasmKernels });
    expect(minMax).not.toHaveBeenCalled();
    const ref = quantizeCounted(x, [64, 64], { dtype: 'int8', granularity: { kind: 'per-axis', axis: 0 }, countClipped: true, kernels: referenceKernels });
    expect(Array.from(r.codes)).toEqual(Array.from(ref.codes));
    expect(Array.from(r.params.scale)).toEqual(Array.from(ref.params.scale));
  });

  it('a range callback that runs kernels does not corrupt the staged copy', () => {
    setKernels(active);
    const x = Float32Array.from({ length: 3000 }, (_, i) => Math.cos(i) * 7);
    const other = Float32Array.from({ length: 3000 }, () => 1e6);
    const r = quantizeCounted(x, [3000], {
      dtype: 'int8',
      range: () => {
        // Whatever staging the kernels do with other data in between, x's codes must come out right.
        quantizeCounted(other, [3000], { dtype: 'int8' });
        return { min: new Float32Array([-7]), max: new Float32Array([7]) };
      },
      countClipped: true,
    });
    const params = r.params;
    const ref = referenceCodes(x, [3000], PER_TENSOR, params.scale, params.zeroPoint, params.qmin, params.qmax);
    expect(Array.from(r.codes)).toEqual(ref.codes);
  });
});
