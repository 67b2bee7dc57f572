import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { t, target } from '../../../test/onnx/compare-fixtures.js';
import { characterErrorRate, createCtcEvaluator, ctcGreedyDecode, editDistance } from './ctc-error.js';
import { parseMetric } from './metric-options.js';

const spec = (o: object = {}) => parseMetric({ kind: 'ctc', ...o }) as Extract<ReturnType<typeof parseMetric>, { kind: 'ctc' }>;
const codes = (s: string) => [...s].map((c) => c.charCodeAt(0));

/** Steps of one-hot scores over `classes` classes, one step per argmax. */
function steps(argmaxes: number[], classes: number): number[] {
  return argmaxes.flatMap((k) => Array.from({ length: classes }, (_, j) => (j === k ? 0.9 : 0.1 / (classes - 1))));
}

describe('ctcGreedyDecode', () => {
  it('takes each step’s argmax, collapses repeats and drops the blank', () => {
    const v = new Float32Array(steps([0, 3, 3, 0, 3, 5, 5], 6));
    expect(ctcGreedyDecode(v, 0, 7, 6, 0)).toEqual([3, 3, 5]);
    // With blank 3 instead: 0 3 3 0 3 5 5 → 0 0 5.
    expect(ctcGreedyDecode(v, 0, 7, 6, 3)).toEqual([0, 0, 5]);
    // Ties go to the lower index: (0.5, 0.5) is class 0, the blank.
    expect(ctcGreedyDecode(new Float32Array([0.5, 0.5, 0, 1]), 0, 2, 2, 0)).toEqual([1]);
  });
});

describe('editDistance and characterErrorRate', () => {
  it('match hand-counted edits of known strings', () => {
    expect(editDistance(codes('kitten'), codes('sitting'))).toBe(3);
    expect(editDistance(codes('QUANTKIT'), codes('QUANTKIT'))).toBe(0);
    expect(editDistance(codes('ONNX'), [])).toBe(4);
    expect(editDistance([], codes('AB'))).toBe(2);
    expect(editDistance(codes('flaw'), codes('lawn'))).toBe(2);
    expect(characterErrorRate(3, 6)).toBe(0.5);
    expect(characterErrorRate(0, 0)).toBe(0);
    expect(characterErrorRate(2, 0)).toBe(Infinity);
  });

  it('is a distance: 0 on itself, symmetric, between the length difference and the longer length (seeded)', () => {
    const s = fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 12 });
    fc.assert(
      fc.property(s, s, (a, b) => {
        const d = editDistance(a, b);
        expect(editDistance(a, a)).toBe(0);
        expect(editDistance(b, a)).toBe(d);
        expect(d).toBeGreaterThanOrEqual(Math.abs(a.length - b.length));
        expect(d).toBeLessThanOrEqual(Math.max(a.length, b.length));
      }),
      { seed: 5, numRuns: 300 },
    );
  });
});

describe('createCtcEvaluator', () => {
  it('scores the candidate’s decoded strings against the reference’s over every sequence of every batch', () => {
    const e = createCtcEvaluator(spec(), target(['p'], ['p']));
    // Batch 1, two sequences of 5 steps over 4 classes: reference reads [1 2 3] and [2 2]; candidate [1 3] and [2 2].
    const ref1 = [...steps([1, 2, 0, 3, 3], 4), ...steps([2, 0, 2, 0, 0], 4)];
    const got1 = [...steps([1, 1, 0, 3, 0], 4), ...steps([2, 0, 2, 2, 0], 4)];
    e.add({ p: t('p', [2, 5, 4], ref1) }, { p: t('p', [2, 5, 4], got1) }, 0);
    // Batch 2, one sequence: reference [3], candidate reads nothing.
    e.add({ p: t('p', [1, 5, 4], steps([0, 3, 3, 0, 0], 4)) }, { p: t('p', [1, 5, 4], steps([0, 0, 0, 0, 0], 4)) }, 1);
    const r = e.result([]);
    // Edits 1 (missing 2) + 0 + 1 (missing 3) over 3 + 2 + 1 reference characters.
    expect(r).toEqual({ metric: 'ctc', value: 2 / 6, figures: [{ kind: 'ctc', output: 'p', blank: 0, value: 2 / 6, sequences: 3, referenceCharacters: 6, edits: 2, emptyCandidate: 1 }] });
  });

  it('reads a 2-D output as one sequence [T, C], takes another blank, and rejects a blank that is not a class', () => {
    const e = createCtcEvaluator(spec({ blank: 2 }), target(['p'], ['p']));
    e.add({ p: t('p', [4, 3], steps([0, 2, 1, 1], 3)) }, { p: t('p', [4, 3], steps([0, 1, 2, 1], 3)) }, 0);
    // Reference [0 1], candidate [0 1 1]: one insertion over 2.
    expect(e.result([]).value).toBe(0.5);
    const bad = createCtcEvaluator(spec({ blank: 7 }), target(['p'], ['p']));
    expect(() => bad.add({ p: t('p', [1, 2, 3], steps([0, 1], 3)) }, { p: t('p', [1, 2, 3], steps([0, 1], 3)) }, 0)).toThrow(/metric ctc: blank 7 is not a class of output 'p' \(3 classes, 0 to 2\)/);
  });

  it('rejects a candidate of another shape, naming the output', () => {
    const e = createCtcEvaluator(spec(), target(['p'], ['p']));
    expect(() => e.add({ p: t('p', [1, 2, 3], steps([0, 1], 3)) }, { p: t('p', [2, 3], steps([0, 1], 3)) }, 0)).toThrow(/metric ctc: output 'p': expected the candidate's shape to equal the reference's \[1, 2, 3\], got \[2, 3\]/);
  });
});
