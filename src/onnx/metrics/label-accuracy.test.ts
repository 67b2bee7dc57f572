import { describe, expect, it } from 'vitest';
import { t, target } from '../../../test/onnx/compare-fixtures.js';
import { createAccuracyEvaluator } from './label-accuracy.js';
import { parseMetric } from './metric-options.js';

const spec = (labels: number[], o: object = {}) => parseMetric({ kind: 'accuracy', labels, ...o }) as Extract<ReturnType<typeof parseMetric>, { kind: 'accuracy' }>;

describe('createAccuracyEvaluator', () => {
  it('is 1 - accuracy of the candidate’s argmax against labels read row by row across batches, beside the reference’s own accuracy', () => {
    const e = createAccuracyEvaluator(spec([2, 0, 1, 1, 0]), target(['y']));
    // Batch 1, rows argmax: reference 2 0 1, candidate 2 1 1.
    e.add({ y: t('y', [3, 3], [0, 0, 1, 1, 0, 0, 0, 1, 0]) }, { y: t('y', [3, 3], [0, 0, 1, 0, 1, 0, 0, 1, 0]) }, 0);
    // Batch 2, rows argmax: reference 1 2, candidate 1 0.
    e.add({ y: t('y', [2, 3], [0, 1, 0, 0, 0, 1]) }, { y: t('y', [2, 3], [0, 1, 0, 1, 0, 0]) }, 1);
    // Labels 2 0 1 1 0: candidate right on rows 0, 2, 3, 4 → 4/5; reference right on rows 0, 1, 2, 3 → 4/5.
    const r = e.result([]);
    expect(r.metric).toBe('accuracy');
    expect(r.value).toBeCloseTo(0.2, 15);
    expect(r.figures).toEqual([{ kind: 'accuracy', output: 'y', value: r.value, rows: 5, accuracy: 0.8, referenceAccuracy: 0.8 }]);
  });

  it('needs exactly one label per row, and labels that are classes', () => {
    const few = createAccuracyEvaluator(spec([0]), target(['y']));
    expect(() => few.add({ y: t('y', [2, 2], [1, 0, 0, 1]) }, { y: t('y', [2, 2], [1, 0, 0, 1]) }, 0)).toThrow(/metric accuracy: 1 labels, but output 'y' has more rows \(2 by batch 1\)/);
    const many = createAccuracyEvaluator(spec([0, 1, 1]), target(['y']));
    many.add({ y: t('y', [2, 2], [1, 0, 0, 1]) }, { y: t('y', [2, 2], [1, 0, 0, 1]) }, 0);
    expect(() => many.result([])).toThrow(/metric accuracy: 3 labels, but output 'y' has 2 rows/);
    const big = createAccuracyEvaluator(spec([5]), target(['y']));
    expect(() => big.add({ y: t('y', [1, 2], [1, 0]) }, { y: t('y', [1, 2], [1, 0]) }, 0)).toThrow(/label 5 \(row 0\) is not a class of output 'y' \(2 classes, 0 to 1\)/);
  });
});
