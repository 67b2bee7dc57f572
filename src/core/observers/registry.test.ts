import { describe, expect, it } from 'vitest';
import { quantError as error } from '../../../test/helpers/quant-error.js';
import { DATA_OBSERVER_NAMES, OBSERVER_NAMES, OBSERVERS, createObserver, observerName } from './builtin-observers.js';
import { HistogramObserver } from './histogram-observer.js';
import { MinMaxObserver } from './min-max-observer.js';

describe('the observer registry', () => {
  it('holds the seven built-in kinds, mse under its old name histogram too', () => {
    expect(OBSERVERS.keys()).toEqual(['minmax', 'moving-average', 'percentile', 'mse', 'entropy', 'outlier', 'fixed']);
    expect(OBSERVER_NAMES).toEqual(OBSERVERS.keys());
    expect(DATA_OBSERVER_NAMES).toEqual(['minmax', 'moving-average', 'percentile', 'mse', 'entropy', 'outlier']);
    expect(createObserver('mse')).toBeInstanceOf(HistogramObserver);
    expect(createObserver('histogram')).toBeInstanceOf(HistogramObserver);
    expect(createObserver('histogram').name).toBe('mse');
    expect(observerName('histogram')).toBe('mse');
    expect(createObserver('minmax')).toBeInstanceOf(MinMaxObserver);
    expect(createObserver('percentile', { maxPercentile: 99.99, axis: 0 }).axis).toBe(0);
  });

  it('names the known kinds when asked for an unknown one', () => {
    const e = error(() => createObserver('kl'));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain("unknown observer 'kl'");
    expect(e.message).toBe("unknown observer 'kl': expected one of minmax, moving-average, percentile, mse, entropy, outlier, fixed");
  });

  it('refuses a duplicate name and non-object options', () => {
    expect(error(() => OBSERVERS.register('minmax', { create: () => new MinMaxObserver() })).message).toBe("observer 'minmax' is registered twice");
    expect(error(() => createObserver('minmax', [] as never)).code).toBe('INVALID_ARGUMENT');
  });

  it.each([
    ['percentile', { minPercentile: -1 }, 'minPercentile must be a number in [0, 100], got -1'],
    ['percentile', { maxPercentile: 100.5 }, 'maxPercentile must be a number in [0, 100], got 100.5'],
    ['percentile', { minPercentile: 60, maxPercentile: 40 }, 'minPercentile must be below maxPercentile, got 60 >= 40'],
    ['percentile', { minPercentile: 50, maxPercentile: 50 }, 'minPercentile must be below maxPercentile'],
    ['percentile', { bins: 0 }, 'bins must be an integer from 1'],
    ['mse', { bins: 2.5 }, 'bins must be an integer'],
    ['entropy', { bins: 1 }, 'bins must be an integer from 2'],
    ['entropy', { bins: 64, quantizedBins: 128 }, 'quantizedBins must be an integer from 2 to bins (64), got 128'],
    ['moving-average', { averagingConstant: 0 }, 'averagingConstant must be a number in (0, 1], got 0'],
    ['moving-average', { averagingConstant: 1.5 }, 'averagingConstant must be a number in (0, 1]'],
    ['outlier', { outlierThreshold: -3 }, 'outlierThreshold must be a positive finite number, got -3'],
    ['fixed', { min: 1, max: 1 }, 'fixed range needs min < max, got [1, 1]'],
    ['fixed', { min: [0, 1], max: 2 }, 'as many minima as maxima'],
    ['fixed', { min: [0, 1], max: [1, 2] }, 'per-tensor fixed observer takes one min and one max'],
    ['fixed', { max: 1 }, 'fixed observer min must be a finite number'],
    ['minmax', { axis: 0.5 }, 'observer axis must be an integer, got 0.5'],
  ])('%s rejects %j', (name, options, message) => {
    const e = error(() => createObserver(name, options));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain(message);
  });

  it('checks a per-channel fixed range against the channel count', () => {
    const o = createObserver('fixed', { axis: 0, min: [-1, -2], max: [1, 2] });
    expect(error(() => o.update(new Float32Array(3), [3])).code).toBe('SHAPE_MISMATCH');
    expect(o.count).toBe(0);
    o.update(new Float32Array(4), [2, 2]);
    const r = o.range({ dtype: 'int8' });
    expect([Array.from(r.min), Array.from(r.max)]).toEqual([[-1, -2], [1, 2]]);
  });

  it('rejects an axis out of range for the batch', () => {
    const o = createObserver('minmax', { axis: 2 });
    expect(error(() => o.update(new Float32Array(4), [2, 2])).code).toBe('AXIS_OUT_OF_RANGE');
  });
});
