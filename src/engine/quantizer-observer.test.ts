import { describe, expect, it } from 'vitest';
import { QuantError } from '../core/errors.js';
import type { Granularity } from '../core/layout.js';
import { PER_TENSOR } from '../core/layout.js';
import { createObserver } from '../core/observers/builtin-observers.js';
import { qparamsFromRange } from '../core/quantize.js';
import type { QParams } from '../core/qparams.js';
import { createRng } from '../core/random.js';
import { parseQuantizerConfig } from './config.js';
import { Quantizer } from './quantizer.js';

/** Heavy-tailed: mostly in [-1, 1] with a few values near ±20, so percentile and min/max disagree. */
function heavy(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, (_, i) => (i % 97 === 0 ? 40 * (rng() - 0.5) : 2 * rng() - 1));
}

const shape = [4, 250];
const a = heavy(1000, 1);
const b = heavy(1000, 2);
const PCT = { minPercentile: 1, maxPercentile: 99 };

function library(name: string, options: Record<string, unknown>, batches: Float32Array[], granularity: Granularity, dtype: 'int8' | 'int4' = 'int8'): QParams {
  const o = createObserver(name, { ...options, axis: granularity.kind === 'per-tensor' ? undefined : granularity.axis });
  for (const x of batches) o.update(x, shape);
  const r = o.range({ dtype });
  return qparamsFromRange(r.min, r.max, shape, { dtype, symmetric: false, granularity });
}

function same(got: QParams, want: QParams): void {
  expect(Array.from(got.scale)).toEqual(Array.from(want.scale));
  expect(Array.from(got.zeroPoint)).toEqual(Array.from(want.zeroPoint));
}

describe("the Quantizer's observer field", () => {
  it("calibrates with { name: 'percentile', options } exactly as createObserver('percentile') does", () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', observer: { name: 'percentile', options: PCT } });
    const report = q.calibrate([a, b].map((data) => ({ data, shape })));
    expect(report.method).toBe('percentile');
    const want = library('percentile', PCT, [a, b], PER_TENSOR);
    expect(report.scales).toEqual(Array.from(want.scale));
    expect(report.zeroPoints).toEqual(Array.from(want.zeroPoint));
    const r = q.quantize({ data: a, shape });
    if (r.kind !== 'integer') throw new Error('expected integer codes');
    same(r.params, want);
    // The default (min/max) would give another scale: the field is what chose it.
    expect(library('minmax', {}, [a, b], PER_TENSOR).scale[0]).not.toBe(want.scale[0]);
  });

  it('calibrates per channel along channelDim, and the observer wins over usePercentile', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', perChannel: true, channelDim: 0, usePercentile: true, observer: { name: 'percentile', options: PCT } });
    q.calibrate([a, b].map((data) => ({ data, shape })));
    const r = q.quantize({ data: b, shape });
    if (r.kind !== 'integer') throw new Error('expected integer codes');
    same(r.params, library('percentile', PCT, [a, b], { kind: 'per-axis', axis: 0 }));
  });

  it('chooses the per-call range of DYNAMIC mode too, aiming mse at the configured bit width', () => {
    const q = new Quantizer({ quantizationType: 'INT4', observer: { name: 'mse', options: { bins: 256 } } });
    const r = q.quantize({ data: a, shape });
    if (r.kind !== 'integer') throw new Error('expected integer codes');
    same(r.params, library('mse', { bins: 256 }, [a], PER_TENSOR, 'int4'));
  });

  it('exports and imports parameters that name the observer', () => {
    const q = new Quantizer({ quantizationMode: 'CALIBRATED', observer: { name: 'entropy', options: { bins: 128 } } });
    q.calibrate({ data: a, shape });
    const file = q.exportParameters();
    expect(file.instance.calibrated?.method).toBe('entropy');
    const copy = new Quantizer(q.getConfig());
    copy.importParameters(JSON.parse(JSON.stringify(file)));
    expect(copy.getParameters()).toEqual(q.getParameters());
  });

  it('is validated with the registry: unknown names list the known ones, bad options and an axis are config errors', () => {
    const message = (config: unknown) => {
      try {
        parseQuantizerConfig(config);
      } catch (e) {
        expect(e).toBeInstanceOf(QuantError);
        expect((e as QuantError).code).toBe('INVALID_CONFIG');
        return (e as QuantError).message;
      }
      throw new Error('expected INVALID_CONFIG');
    };
    expect(message({ observer: { name: 'kl' } })).toBe('observer.name: expected an observer minmax | moving-average | percentile | mse | entropy | outlier | fixed, got "kl"');
    expect(message({ observer: { name: 'percentile', options: { maxPercentile: 120 } } })).toContain('observer.options: expected options percentile accepts (maxPercentile must be a number in [0, 100], got 120)');
    expect(message({ observer: { name: 'fixed' } })).toContain('fixed observer min must be a finite number');
    expect(message({ observer: { name: 'minmax', options: { axis: 0 } } })).toContain('observer.options: expected no axis');
    expect(message({ observer: { name: 'minmax', options: [] } })).toContain('observer.options: expected an object of observer options');
    expect(message({ observer: { name: 'minmax', extra: 1 } })).toContain('observer: unknown field "extra"');
    // 'histogram' is the library's old spelling of mse; the config, new, takes the registered name only.
    expect(message({ observer: { name: 'histogram' } })).toContain('observer.name');
  });

  it('defaults to null (the range method of usePercentile and outlierThreshold) and survives a JSON round trip', () => {
    expect(parseQuantizerConfig({}).observer).toBeNull();
    const c = parseQuantizerConfig({ observer: { name: 'percentile', options: PCT } });
    expect(c.observer).toEqual({ name: 'percentile', options: PCT });
    expect(parseQuantizerConfig(JSON.parse(JSON.stringify(c)))).toEqual(c);
    expect(parseQuantizerConfig({ observer: { name: 'minmax' } }).observer).toEqual({ name: 'minmax', options: {} });
  });
});
