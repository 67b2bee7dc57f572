import { describe, expect, it } from 'vitest';
import { t, target } from '../../../test/onnx/compare-fixtures.js';
import { QuantError } from '../../core/errors.js';
import { createCustomEvaluator } from './custom-metric.js';
import type { CustomMetricFunction, MetricBatch, MetricTensors } from './metric-options.js';
import { parseMetric } from './metric-options.js';

const custom = (evaluate: CustomMetricFunction) => parseMetric({ kind: 'custom', name: './m.mjs', evaluate }) as Extract<ReturnType<typeof parseMetric>, { kind: 'custom' }>;

describe('createCustomEvaluator', () => {
  it('hands every graph output of both models as float32 copies with dims, and the batch index and count; the value is the mean', async () => {
    const calls: [MetricTensors, MetricTensors, MetricBatch][] = [];
    const e = createCustomEvaluator(
      custom((r, c, b) => {
        calls.push([r, c, b]);
        return Math.abs(r.y!.data[0]! - c.y!.data[0]!);
      }),
      target(['y', 'n'], [], [], 2),
    );
    const n = { name: 'n', dtype: 'int64' as const, dims: [1], values: new BigInt64Array([7n]) };
    await e.add({ y: t('y', [1, 2], [1, 2]), n }, { y: t('y', [1, 2], [1.5, 2]), n }, 0);
    await e.add({ y: t('y', [1, 2], [3, 4]), n }, { y: t('y', [1, 2], [2, 4]), n }, 1);
    expect(e.result([])).toEqual({ metric: './m.mjs', value: (0.5 + 1) / 2, figures: [] });
    const [r, c, b] = calls[0]!;
    expect(Object.getPrototypeOf(r)).toBeNull();
    expect(Object.keys(r)).toEqual(['y', 'n']);
    expect(r.y).toEqual({ data: new Float32Array([1, 2]), dims: [1, 2] });
    expect(r.n).toEqual({ data: new Float32Array([7]), dims: [1] });
    expect(c.y!.data).toEqual(new Float32Array([1.5, 2]));
    expect(b).toEqual({ index: 0, count: 2 });
    expect(calls[1]![2]).toEqual({ index: 1, count: 2 });
  });

  it('awaits an async metric', async () => {
    const e = createCustomEvaluator(custom(async () => 0.25), target(['y']));
    await e.add({ y: t('y', [1], [1]) }, { y: t('y', [1], [1]) }, 0);
    expect(e.result([]).value).toBe(0.25);
  });

  it('names the metric and the batch when it throws or returns NaN or a non-number', async () => {
    const ref = { y: t('y', [1], [1]) };
    const thrown = await Promise.resolve(createCustomEvaluator(custom(() => { throw new Error('boom'); }), target(['y'])).add(ref, ref, 0)).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(QuantError);
    expect((thrown as Error).message).toBe('metric ./m.mjs threw on batch 1: boom');
    await expect(createCustomEvaluator(custom(() => Number.NaN), target(['y'])).add(ref, ref, 2)).rejects.toThrow('metric ./m.mjs returned NaN on batch 3: expected a number (lower is better)');
    await expect(createCustomEvaluator(custom((() => '0.1') as never), target(['y'])).add(ref, ref, 0)).rejects.toThrow(/returned string on batch 1/);
  });
});
